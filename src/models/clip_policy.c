/* The CLIP head (see clip_policy.h): assembly, fusion, forward pieces, checkpoints. Step mode:
 * clip_runner.c. */
#include "models/clip_policy.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "nn/checkpoint.h"
#include "tensor/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fused_width(const ClipPolicyConfig *c) { return (c->fusion == CLIP_FUSION_NORM ? 3 : 2) * c->embed_dim; }

int clip_policy_init(ClipPolicy *p, const ClipPolicyConfig *cfg, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    params_init(&p->params);
    int rc = clip_policy_config_validate(cfg, 1, "clip policy");
    if (rc) return rc;
    p->cfg = *cfg;
    const ClipPolicyConfig *c = &p->cfg;
    Rng rng;
    rng_seed(&rng, seed);
    int D = c->feature_dim;
    p->fused_dim = fused_width(c);
    p->frame_in = p->fused_dim;
    if (c->resampler.enabled) {
        ResamplerConfig rc_ = resampler_config_default(c->resampler.dim);
        rc_.media_dim = c->token_dim;
        rc_.num_latents = c->resampler.latents;
        rc_.depth = c->resampler.depth;
        rc_.heads = c->resampler.heads;
        rc_.dim_head = c->resampler.dim_head;
        rc_.ff_mult = c->resampler.ff_mult;
        if ((rc = resampler_init(&p->rs, &p->params, "resampler", &rc_, &rng))) goto fail;
        p->frame_in += c->resampler.dim;
    }
    if ((rc = linear_init(&p->neck, &p->params, "neck", p->frame_in, D, 1, &rng))) goto fail;
    if (!(p->pad = params_new(&p->params, "head.pad", 0, 1, &D))) goto nomem;
    if (c->head.kind == CLIP_HEAD_MLP) rc = linear_init(&p->mlp, &p->params, "head.mlp", D, c->head.hidden, 1, &rng);
    else rc = lstm_init(&p->lstm, &p->params, "head.lstm", D, c->head.hidden, c->head.layers, &rng);
    if (rc) goto fail;
    p->head_dim = c->head.hidden;
    /* the action shell: the student's loss and normalisation read only these fields */
    StudentPolicy *a = &p->act;
    student_config_default(&a->cfg);
    snprintf(a->cfg.name, sizeof a->cfg.name, "%s", c->name);
    a->cfg.encoder.input_width = a->cfg.encoder.input_height = c->image_size;
    a->cfg.action = c->act.action;
    a->out_dim = c->act.action.kind == ACTION_CONTINUOUS ? STUDENT_ACTION_DIMS : STUDENT_KEYS;
    if ((rc = linear_init(&p->out, &p->params, "out", p->head_dim, c->act.action.chunk * a->out_dim, 1, &rng))) goto fail;
    a->action_mean = params_new_buffer(&p->params, "out.action_mean", 1, (int[]){STUDENT_ACTION_DIMS});
    a->action_scale = params_new_buffer(&p->params, "out.action_scale", 1, (int[]){STUDENT_ACTION_DIMS});
    if (!a->action_mean || !a->action_scale) goto nomem;
    tensor_fill(a->action_scale, (float)(c->act.action.key_value / 0.9));
    return 0;
nomem:
    rc = mvla_fail(MVLA_ERR_NOMEM, "clip policy: out of memory creating parameters");
fail:
    clip_policy_free(p);
    return rc;
}

void clip_policy_free(ClipPolicy *p)
{
    params_free(&p->params, 1);
    clip_backbone_free(p->backbone);
    memset(p, 0, sizeof *p);
}

long clip_policy_param_count(const ClipPolicy *p)
{
    long n = 0;
    for (int i = 0; i < p->params.count; i++)
        if (p->params.items[i].trainable) n += p->params.items[i].tensor->numel;
    return n;
}

long clip_policy_model_bytes(const ClipPolicy *p) { return params_numel(&p->params) * (long)sizeof(float); }

/* ---- forward pieces ---- */

static double norm2(const float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    s = sqrt(s);
    return s > 1e-12 ? s : 1e-12; /* F.normalize's eps */
}

void clip_policy_fuse(const ClipPolicy *p, const float *img, const float *txt, float *out)
{
    int P = p->cfg.embed_dim;
    if (p->cfg.fusion == CLIP_FUSION_CONCAT) {
        memcpy(out, img, sizeof(float) * (size_t)P);
        memcpy(out + P, txt, sizeof(float) * (size_t)P);
        return;
    }
    double ni = norm2(img, P), nt = norm2(txt, P);
    for (int k = 0; k < P; k++) {
        float a = (float)(img[k] / ni), b = (float)(txt[k] / nt);
        out[k] = a, out[P + k] = b, out[2 * P + k] = a * b;
    }
}

Tensor *clip_policy_frame_features(Graph *g, ClipPolicy *p, Tensor *fused, Tensor *tokens, int training, Rng *rng)
{
    if (!fused) return NULL;
    const ClipPolicyConfig *c = &p->cfg;
    char s[64];
    if (fused->ndim != 2 || fused->shape[1] != p->fused_dim) {
        mvla_fail(MVLA_ERR_ARG, "clip policy: fused features %s: expected [N, %d]", tensor_shape_str(fused, s, sizeof s),
                  p->fused_dim);
        return NULL;
    }
    if (training && c->dropout > 0 && !rng) {
        mvla_fail(MVLA_ERR_ARG, "clip policy: training with dropout %g needs a random generator", c->dropout);
        return NULL;
    }
    Tensor *x = fused;
    if (c->resampler.enabled) {
        if (!tokens) {
            mvla_fail(MVLA_ERR_ARG, "clip policy: the resampler needs the visual tokens");
            return NULL;
        }
        Tensor *lat = resampler_forward(g, &p->rs, tokens);  /* [N, latents, dim] */
        Tensor *r = op_mean_dim(g, lat, 1, 0);                /* [N, dim] */
        x = op_concat(g, (Tensor *[]){fused, r}, 2, 1);
    }
    Tensor *h = op_gelu(g, linear_forward(g, &p->neck, x));
    return op_dropout(g, h, (float)c->dropout, training, rng);
}

Tensor *clip_policy_head(Graph *g, ClipPolicy *p, Tensor *feats, const float *mask, int training, Rng *rng)
{
    if (!feats) return NULL;
    const ClipPolicyConfig *c = &p->cfg;
    int B = feats->shape[0], W = feats->shape[1], D = feats->shape[2], K = c->act.action.chunk;
    if (mask) { /* positions before the episode start hold the learned pad */
        Tensor *keep = graph_tensor(g, 3, (int[]){B, W, 1}), *fill = graph_tensor(g, 3, (int[]){B, W, 1});
        if (!keep || !fill) return NULL;
        for (int i = 0; i < B * W; i++) keep->data[i] = mask[i] != 0, fill->data[i] = mask[i] == 0;
        feats = op_add(g, op_mul(g, feats, keep), op_mul(g, p->pad, fill));
    }
    Tensor *h = NULL;
    if (c->head.kind == CLIP_HEAD_MLP) {
        h = op_relu(g, linear_forward(g, &p->mlp, op_reshape(g, op_slice(g, feats, 1, W - 1, W), 2, (int[]){B, D})));
    } else {
        Tensor *hn[LSTM_MAX_LAYERS] = {0};
        if (lstm_forward(g, &p->lstm, feats, NULL, NULL, hn, NULL)) h = hn[p->lstm.layers - 1];
    }
    h = op_dropout(g, h, (float)c->dropout, training, rng);
    Tensor *y = op_reshape(g, linear_forward(g, &p->out, h), 3, (int[]){B, K, p->act.out_dim});
    return c->act.action.kind == ACTION_CONTINUOUS ? op_tanh(g, y) : y;
}

/* ---- checkpoints ---- */

json_t *clip_policy_metadata(const ClipPolicy *p, ClipBackbone *b)
{
    json_t *cfg = clip_policy_config_to_json(&p->cfg);
    json_t *root = cfg ? json_pack("{s:o}", "clip_policy", cfg) : NULL;
    if (root && b) {
        json_t *bj = clip_backbone_json(b);
        if (!bj) {
            json_decref(root);
            return NULL;
        }
        json_object_set_new(root, "backbone", bj);
    }
    return root;
}

int clip_policy_is_metadata(const char *metadata_json)
{
    json_t *root = metadata_json ? json_loads(metadata_json, 0, NULL) : NULL;
    int yes = json_is_object(json_object_get(root, "clip_policy"));
    json_decref(root);
    return yes;
}

int clip_policy_load(ClipPolicy *p, const char *path, int with_backbone, const char *backbone_override)
{
    memset(p, 0, sizeof *p);
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    const char *meta = st_metadata(st, "mvla.metadata");
    json_t *root = meta ? json_loads(meta, 0, NULL) : NULL;
    st_close(st);
    json_t *cj = json_object_get(root, "clip_policy"), *bj = json_object_get(root, "backbone");
    char label[600];
    snprintf(label, sizeof label, "%s: clip_policy", path);
    ClipPolicyConfig c;
    clip_policy_config_default(&c);
    if (!json_is_object(cj))
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: expected a \"clip_policy\" object (a CLIP head checkpoint "
                       "written by `mvla train --preset clip-...`)", path);
    if (!rc) rc = clip_policy_config_from_json(&c, cj, label);
    const char *want_hash = json_string_value(json_object_get(bj, "hash"));
    if (!rc && with_backbone && !want_hash)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: backbone.hash: expected the content hash of the backbone", path);
    char hash[HASH_TEXT_MAX] = "";
    if (want_hash) snprintf(hash, sizeof hash, "%s", want_hash);
    json_decref(root);
    if (!rc) rc = clip_policy_init(p, &c, 0);
    if (rc) return rc;
    if ((rc = checkpoint_load(path, &p->params, NULL, NULL, NULL))) goto fail;
    if (!with_backbone) return 0;
    const char *folder = backbone_override ? backbone_override : p->cfg.backbone;
    if ((rc = clip_backbone_open(&p->backbone, folder))) {
        rc = mvla_fail(rc, "%s: the model's backbone: %s", path, mvla_error_message());
        goto fail;
    }
    if (strcmp(clip_backbone_hash(p->backbone), hash) != 0) {
        rc = mvla_fail(MVLA_ERR_ARG, "%s: the backbone %s is not the one this model was trained with (content hash %s, "
                       "recorded %s)", path, folder, clip_backbone_hash(p->backbone), hash);
        goto fail;
    }
    ClipPolicyConfig check = p->cfg;
    if ((rc = clip_policy_config_set_backbone(&check, p->backbone, label))) goto fail;
    return 0;
fail:
    clip_policy_free(p);
    return rc;
}
