/* The student policy: assembly, batched forward, loss, checkpoints (step mode: policy_runner.c). */
#include "models/policy.h"

#include "base/error.h"
#include "data/actions.h"
#include "io/safetensors.h"
#include "models/policy_int8.h"
#include "models/policy_internal.h"
#include "nn/checkpoint.h"
#include "tensor/ops_activation.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_loss.h"
#include "tensor/ops_pool.h"
#include "tensor/ops_shape.h"
#include "tensor/ops_softmax.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(STUDENT_KEYS == ACTION_NUM_KEYS, "the discrete head has one class per teleop key");

/* The direction dead zone for mapping a non-key target to a key (their runtime's dead zone). */
#define CLASS_DEAD_ZONE 0.15f

int student_init(StudentPolicy *p, const StudentConfig *c, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    params_init(&p->params);
    int rc = student_config_validate(c, "policy");
    if (rc) return rc;
    p->cfg = *c;
    Rng rng;
    rng_seed(&rng, seed);
    int E = c->instruction.out_dim, D = c->feature_dim, K = c->action.chunk;
    char name[64];
    if ((rc = mobilenet_init(&p->enc, &p->params, "encoder", &c->encoder, &rng)) ||
        (rc = instr_encoder_init(&p->instr, &p->params, "instruction", &c->instruction, &rng)))
        goto fail;
    for (int i = 0; i < STUDENT_MAX_BLOCKS; i++) p->film_of_block[i] = -1;
    if (c->fusion == FUSION_FILM) {
        p->n_film = c->n_film;
        for (int j = 0; j < c->n_film; j++) {
            int blk = c->film_stages[j];
            snprintf(name, sizeof name, "film.%d", j);
            if ((rc = film_init(&p->film[j], &p->params, name, E, p->enc.blocks[blk].out))) goto fail;
            p->film_of_block[blk] = j;
        }
    }
    p->pooled_dim = p->enc.out_channels * (c->encoder.pool == POOL_AVG ? 1 : p->enc.out_h * p->enc.out_w);
    if ((rc = linear_init(&p->neck, &p->params, "neck", p->pooled_dim + (c->fusion == FUSION_CONCAT ? E : 0), D, 1,
                          &rng)))
        goto fail;
    if (!(p->pad = params_new(&p->params, "head.pad", 0, 1, &D))) goto nomem;
    switch (c->head.kind) {
    case HEAD_NONE:
        rc = linear_init(&p->mlp, &p->params, "head.mlp", D, c->head.hidden, 1, &rng);
        p->head_dim = c->head.hidden;
        break;
    case HEAD_LSTM:
        rc = lstm_init(&p->lstm, &p->params, "head.lstm", D, c->head.hidden, c->head.layers, &rng);
        p->head_dim = c->head.hidden;
        break;
    case HEAD_TRANSFORMER:
        if (!(p->pos = params_new(&p->params, "head.pos", 0, 2, (int[]){c->head.window, D}))) goto nomem;
        tensor_fill_normal(p->pos, &rng, 0.1f);
        rc = tiny_transformer_init(&p->tf, &p->params, "head.transformer", D, c->head.heads, c->head.ff,
                                   c->head.layers, &rng);
        p->head_dim = D;
        break;
    }
    if (rc) goto fail;
    p->out_dim = c->action.kind == ACTION_CONTINUOUS ? STUDENT_ACTION_DIMS : STUDENT_KEYS;
    if ((rc = linear_init(&p->out, &p->params, "out", p->head_dim, K * p->out_dim, 1, &rng))) goto fail;
    p->action_mean = params_new_buffer(&p->params, "out.action_mean", 1, (int[]){STUDENT_ACTION_DIMS});
    p->action_scale = params_new_buffer(&p->params, "out.action_scale", 1, (int[]){STUDENT_ACTION_DIMS});
    if (!p->action_mean || !p->action_scale) goto nomem;
    tensor_fill(p->action_scale, (float)(c->action.key_value / 0.9));
    return 0;
nomem:
    rc = mvla_fail(MVLA_ERR_NOMEM, "policy: out of memory creating parameters: %s", mvla_error_message());
fail:
    student_free(p);
    return rc;
}

void student_free(StudentPolicy *p)
{
    student_int8_detach(p);
    mobilenet_free(&p->enc);
    params_free(&p->params, 1);
    memset(p, 0, sizeof *p);
}

ParamList *student_params(StudentPolicy *p) { return &p->params; }

long student_param_count(const StudentPolicy *p)
{
    long n = 0;
    for (int i = 0; i < p->params.count; i++)
        if (p->params.items[i].trainable) n += p->params.items[i].tensor->numel;
    return n;
}

long student_model_bytes(const StudentPolicy *p) { return params_numel(&p->params) * (long)sizeof(float); }

/* ---- forward pieces (shared with the runner through policy_internal.h) ---- */

Tensor *student_frame_features(Graph *g, StudentPolicy *p, Tensor *x, Tensor *cond, int training, Rng *rng)
{
    if (p->int8 && !training) return student_int8_frame_features(g, p, x, cond);
    Tensor *h = mobilenet_stem(g, &p->enc, x, training);
    for (int i = 0; i < p->enc.n_blocks && h; i++) {
        h = mobilenet_block(g, &p->enc, i, h, training);
        if (p->film_of_block[i] >= 0) h = film_apply(g, &p->film[p->film_of_block[i]], h, cond);
    }
    h = mobilenet_final(g, &p->enc, h, training);
    h = p->cfg.encoder.pool == POOL_AVG ? op_global_avgpool(g, h) : op_flatten(g, h, 1); /* [N, pooled] */
    if (p->cfg.fusion == FUSION_CONCAT) h = fusion_concat(g, h, cond);
    h = op_hardswish(g, linear_forward(g, &p->neck, h)); /* [N, D] */
    return op_dropout(g, h, (float)p->cfg.dropout, training, rng);
}

Tensor *student_mix_padding(Graph *g, StudentPolicy *p, Tensor *feats, const float *mask)
{
    if (!feats) return NULL;
    int N = feats->shape[0];
    Tensor *keep = graph_tensor(g, 2, (int[]){N, 1}), *fill = graph_tensor(g, 2, (int[]){N, 1});
    if (!keep || !fill) return NULL;
    for (int i = 0; i < N; i++) keep->data[i] = mask[i] != 0, fill->data[i] = mask[i] == 0;
    return op_add(g, op_mul(g, feats, keep), op_mul(g, p->pad, fill));
}

Tensor *student_head(Graph *g, StudentPolicy *p, Tensor *feats, const float *mask, int training, Rng *rng)
{
    if (!feats) return NULL;
    const StudentConfig *c = &p->cfg;
    if (!training && student_int8_runs_head(p)) return student_int8_head(g, p, feats);
    int B = feats->shape[0], W = feats->shape[1], D = feats->shape[2];
    float dropout = (float)c->dropout;
    Tensor *h = NULL;
    switch (c->head.kind) {
    case HEAD_NONE:
        h = op_relu(g, linear_forward(g, &p->mlp, op_reshape(g, feats, 2, (int[]){B, D})));
        break;
    case HEAD_LSTM: {
        Tensor *hn[LSTM_MAX_LAYERS] = {0};
        if (lstm_forward(g, &p->lstm, feats, NULL, NULL, hn, NULL)) h = hn[p->lstm.layers - 1];
        break;
    }
    case HEAD_TRANSFORMER: {
        unsigned char *kp = NULL;
        if (mask) {
            if (!(kp = graph_alloc(g, (size_t)B * W))) return NULL;
            for (int i = 0; i < B * W; i++) kp[i] = mask[i] == 0;
        }
        Tensor *x = tiny_transformer_forward(g, &p->tf, op_add(g, feats, p->pos), 1, kp, dropout, training, rng);
        h = op_reshape(g, op_slice(g, x, 1, W - 1, W), 2, (int[]){B, D});
        break;
    }
    }
    h = op_dropout(g, h, dropout, training, rng);
    Tensor *y = op_reshape(g, linear_forward(g, &p->out, h), 3, (int[]){B, c->action.chunk, p->out_dim});
    return c->action.kind == ACTION_CONTINUOUS ? op_tanh(g, y) : y;
}

/* ---- batched forward ---- */

Tensor *student_encode_tokens(Graph *g, StudentPolicy *p, const InstrTokens *tokens, int B, int training, Rng *rng)
{
    return instr_encode(g, &p->instr, tokens, B, training, rng);
}

Tensor *student_encode_texts(Graph *g, StudentPolicy *p, const char *const *texts, int B, int training, Rng *rng)
{
    if (B < 1) {
        mvla_fail(MVLA_ERR_ARG, "policy: %d instructions: expected at least 1", B);
        return NULL;
    }
    InstrTokens *tok = graph_alloc(g, (size_t)B * sizeof *tok);
    if (!tok) return NULL;
    for (int b = 0; b < B; b++)
        if (instr_tokenize(&p->cfg.instruction, texts[b], &tok[b])) {
            mvla_fail(MVLA_ERR_ARG, "policy: instruction %d: %s", b, mvla_error_message());
            return NULL;
        }
    return student_encode_tokens(g, p, tok, B, training, rng);
}

/* Outputs for the windows ending at positions first..T-1 of each of the B sequences frames [B, T, 3, H, Wd]:
 * every real frame is encoded once, the windows gather their features (positions before the sequence
 * start or masked: head.pad), the head runs on [B * (T - first), W, D]. */
static Tensor *forward_windows(Graph *g, StudentPolicy *p, Tensor *frames, const float *frame_mask, Tensor *instr,
                               int first, int training, Rng *rng)
{
    const StudentConfig *c = &p->cfg;
    int B = frames->shape[0], T = frames->shape[1], W = c->head.window, D = c->feature_dim;
    int H = c->encoder.input_height, Wd = c->encoder.input_width, N = B * T, L = T - first;
    if (training && c->dropout > 0 && !rng) {
        mvla_fail(MVLA_ERR_ARG, "policy: training with dropout %g needs a random generator", c->dropout);
        return NULL;
    }
    int *real = graph_alloc(g, (size_t)N * sizeof *real), *batch_of = graph_alloc(g, (size_t)N * sizeof *batch_of);
    int *slot = graph_alloc(g, (size_t)N * sizeof *slot);
    int M = B * L * W, *idx = graph_alloc(g, (size_t)M * sizeof *idx);
    float *wmask = graph_alloc(g, (size_t)M * sizeof *wmask);
    if (!real || !batch_of || !slot || !idx || !wmask) return NULL;
    int R = 0;
    for (int i = 0; i < N; i++) {
        slot[i] = -1;
        if (frame_mask && frame_mask[i] == 0) continue;
        real[R] = i, batch_of[R] = i / T, slot[i] = R++;
    }
    if (R == 0) {
        mvla_fail(MVLA_ERR_ARG, "policy: frame_mask marks every frame as padding");
        return NULL;
    }
    int padded = 0;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int j = 0; j < W; j++) {
                int f = first + l - W + 1 + j, k = (b * L + l) * W + j, s = f >= 0 ? slot[b * T + f] : -1;
                idx[k] = s >= 0 ? s : 0; /* padding: any real frame, replaced by head.pad below */
                wmask[k] = s >= 0;
                padded |= s < 0;
            }
    Tensor *x = op_reshape(g, frames, 4, (int[]){N, 3, H, Wd});
    if (R < N) x = op_index_select(g, x, 0, real, R);
    Tensor *cond = T == 1 ? instr : op_index_select(g, instr, 0, batch_of, R); /* [R, E] */
    Tensor *feats = student_frame_features(g, p, x, cond, training, rng);  /* [R, D] */
    Tensor *win = feats; /* one window per sequence, all real: the features are the window */
    if (!(L == 1 && T == W && R == N)) win = op_index_select(g, feats, 0, idx, M);
    if (padded) win = student_mix_padding(g, p, win, wmask);
    win = op_reshape(g, win, 3, (int[]){B * L, W, D});
    return student_head(g, p, win, padded ? wmask : NULL, training, rng);
}

/* frames [B, T, 3, H, Wd] with T == want_t (0: any), instr [B, E]; fails naming the shapes. */
static int check_inputs(const StudentPolicy *p, const Tensor *frames, const Tensor *instr, int want_t)
{
    const StudentConfig *c = &p->cfg;
    int H = c->encoder.input_height, Wd = c->encoder.input_width, E = c->instruction.out_dim;
    char sf[64], si[64];
    tensor_shape_str(frames, sf, sizeof sf);
    tensor_shape_str(instr, si, sizeof si);
    if (frames->ndim != 5 || (want_t && frames->shape[1] != want_t) || frames->shape[2] != 3 ||
        frames->shape[3] != H || frames->shape[4] != Wd || frames->shape[0] < 1 || frames->shape[1] < 1) {
        if (want_t)
            return mvla_fail(MVLA_ERR_ARG, "policy: frames %s: expected [B, %d, 3, %d, %d] (window, channels, height, "
                             "width)", sf, want_t, H, Wd);
        return mvla_fail(MVLA_ERR_ARG, "policy: frames %s: expected [B, T, 3, %d, %d]", sf, H, Wd);
    }
    if (instr->ndim != 2 || instr->shape[0] != frames->shape[0] || instr->shape[1] != E)
        return mvla_fail(MVLA_ERR_ARG, "policy: instruction embedding %s for frames %s: expected [%d, %d]", si, sf,
                         frames->shape[0], E);
    return 0;
}

Tensor *student_forward(Graph *g, StudentPolicy *p, Tensor *frames, const float *frame_mask, Tensor *instr,
                        int training, Rng *rng)
{
    if (!frames || !instr) return NULL;
    int W = p->cfg.head.window;
    if (check_inputs(p, frames, instr, W)) return NULL;
    for (int b = 0; frame_mask && b < frames->shape[0]; b++)
        if (frame_mask[b * W + W - 1] == 0) {
            mvla_fail(MVLA_ERR_ARG, "policy: frame_mask: window %d's last frame is padding: expected the current "
                      "frame to be real", b);
            return NULL;
        }
    return forward_windows(g, p, frames, frame_mask, instr, W - 1, training, rng);
}

Tensor *student_forward_sequence(Graph *g, StudentPolicy *p, Tensor *frames, const float *frame_mask, Tensor *instr,
                                 int training, Rng *rng)
{
    if (!frames || !instr) return NULL;
    if (check_inputs(p, frames, instr, 0)) return NULL;
    return forward_windows(g, p, frames, frame_mask, instr, 0, training, rng);
}

/* ---- loss and outputs ---- */

int student_action_class(const StudentPolicy *p, const float a[3])
{
    char k = action_to_key(a, ACTION_TOL);
    if (!k) k = action_direction_key(a, CLASS_DEAD_ZONE);
    if (k) return action_key_index(k);
    int best = 0;
    float best_d = INFINITY;
    for (int i = 0; i < ACTION_NUM_KEYS; i++) {
        float v[3], d = 0;
        key_to_action(ACTION_KEYS[i], (float)p->cfg.action.key_value, v);
        for (int j = 0; j < 3; j++) d += (a[j] - v[j]) * (a[j] - v[j]);
        if (d < best_d) best_d = d, best = i;
    }
    return best;
}

Tensor *student_loss(Graph *g, const StudentPolicy *p, Tensor *out, const float *targets, const float *target_mask)
{
    if (!out) return NULL;
    const StudentConfig *c = &p->cfg;
    int K = c->action.chunk, V = p->out_dim;
    char so[64];
    if (out->ndim != 3 || out->shape[1] != K || out->shape[2] != V) {
        mvla_fail(MVLA_ERR_ARG, "policy loss: output %s: expected [B, %d, %d] (student_forward's)",
                  tensor_shape_str(out, so, sizeof so), K, V);
        return NULL;
    }
    int B = out->shape[0];
    Tensor *mask = NULL;
    if (target_mask) {
        if (!(mask = graph_tensor(g, 2, (int[]){B, K}))) return NULL;
        memcpy(mask->data, target_mask, (size_t)B * K * sizeof(float));
    }
    if (c->action.kind == ACTION_DISCRETE) {
        int *cls = graph_alloc(g, (size_t)B * K * sizeof *cls);
        if (!cls) return NULL;
        for (int i = 0; i < B * K; i++)
            cls[i] = target_mask && target_mask[i] == 0 ? -1 : student_action_class(p, targets + 3L * i);
        return op_cross_entropy(g, op_reshape(g, out, 2, (int[]){B * K, V}), cls, -1);
    }
    Tensor *t = graph_tensor(g, 3, (int[]){B, K, 3});
    if (!t) return NULL;
    for (long i = 0; i < (long)B * K; i++)
        for (int j = 0; j < 3; j++)
            t->data[i * 3 + j] = (targets[i * 3 + j] - p->action_mean->data[j]) / p->action_scale->data[j];
    float delta = (float)c->action.huber_delta;
    switch (c->action.loss) {
    case LOSS_HUBER: return mask ? op_huber_loss_masked(g, out, t, mask, delta) : op_huber_loss(g, out, t, delta);
    case LOSS_MSE: return mask ? op_mse_loss_masked(g, out, t, mask) : op_mse_loss(g, out, t);
    default: return mask ? op_l1_loss_masked(g, out, t, mask) : op_l1_loss(g, out, t);
    }
}

void student_output_to_actions(const StudentPolicy *p, const float *out, int n, float *actions)
{
    for (int i = 0; i < n; i++) {
        if (p->cfg.action.kind == ACTION_CONTINUOUS) {
            for (int j = 0; j < 3; j++)
                actions[i * 3 + j] = p->action_mean->data[j] + p->action_scale->data[j] * out[i * 3 + j];
        } else {
            const float *z = out + (long)i * STUDENT_KEYS;
            int best = 0;
            for (int k = 1; k < STUDENT_KEYS; k++)
                if (z[k] > z[best]) best = k;
            key_to_action(ACTION_KEYS[best], (float)p->cfg.action.key_value, actions + i * 3);
        }
    }
}

int student_set_action_stats(StudentPolicy *p, const float mean[3], const float scale[3])
{
    for (int j = 0; j < 3; j++)
        if (!isfinite(mean[j]) || !(scale[j] > 0) || !isfinite(scale[j]))
            return mvla_fail(MVLA_ERR_ARG, "policy: action statistics axis %d: mean %g, scale %g: expected finite "
                             "values and scale > 0", j, mean[j], scale[j]);
    memcpy(p->action_mean->data, mean, 3 * sizeof(float));
    memcpy(p->action_scale->data, scale, 3 * sizeof(float));
    return 0;
}

int student_fit_action_stats(StudentPolicy *p, const float *actions, long n)
{
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "policy: action statistics from %ld actions: expected at least 1", n);
    float mean[3], scale[3];
    for (int j = 0; j < 3; j++) {
        double s = 0, m = 0;
        for (long i = 0; i < n; i++) s += actions[i * 3 + j];
        mean[j] = (float)(s / n);
        for (long i = 0; i < n; i++) m = fmax(m, fabs(actions[i * 3 + j] - mean[j]));
        scale[j] = (float)fmax(m / 0.9, 1e-3);
    }
    return student_set_action_stats(p, mean, scale);
}

void student_frame_from_rgb(const StudentConfig *c, const uint8_t *rgb, float *chw)
{
    int W = c->encoder.input_width, H = c->encoder.input_height;
    long plane = (long)W * H;
    float lut[3][256];
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++)
            lut[ch][v] = ((float)v / 255.0f - (float)c->encoder.pixel_mean[ch]) / (float)c->encoder.pixel_std[ch];
    for (long i = 0; i < plane; i++)
        for (int ch = 0; ch < 3; ch++) chw[ch * plane + i] = lut[ch][rgb[i * 3 + ch]];
}

int student_fold_batchnorm(StudentPolicy *p)
{
    p->folded = 1;
    return mobilenet_fold_batchnorm(&p->enc);
}

/* ---- checkpoints ---- */

char *student_metadata_json(const StudentPolicy *p)
{
    char *cfg = student_config_to_json(&p->cfg);
    json_t *c = cfg ? json_loads(cfg, 0, NULL) : NULL;
    free(cfg);
    json_t *root = c ? json_pack("{s:o}", "policy", c) : NULL;
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    return text;
}

int student_config_from_metadata(StudentConfig *c, const char *metadata_json, const char *source_name)
{
    const char *src = source_name ? source_name : "metadata";
    json_error_t err;
    json_t *root = json_loads(metadata_json ? metadata_json : "", 0, &err);
    json_t *pol = root ? json_object_get(root, "policy") : NULL;
    if (!json_is_object(pol)) {
        json_decref(root);
        student_config_default(c);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: expected a JSON object with a \"policy\" object (the "
                         "policy config)", src);
    }
    char *text = json_dumps(pol, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", src);
    char label[512];
    snprintf(label, sizeof label, "%s: policy", src);
    int rc = student_config_parse(c, text, label);
    free(text);
    return rc;
}

int student_save(const StudentPolicy *p, const char *path, const Optimizer *opt, long step)
{
    if (p->folded)
        return mvla_fail(MVLA_ERR_ARG, "%s: the policy's batch norm is folded into its convs: save it before folding",
                         path);
    char *meta = student_metadata_json(p);
    if (!meta) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory writing the metadata", path);
    int rc = checkpoint_save(path, &p->params, opt, step, meta);
    free(meta);
    return rc;
}

int student_load(StudentPolicy *p, const char *path)
{
    memset(p, 0, sizeof *p);
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    const char *meta = st_metadata(st, "mvla.metadata");
    StudentConfig c;
    rc = meta ? student_config_from_metadata(&c, meta, path)
              : mvla_fail(MVLA_ERR_FORMAT, "%s: no \"mvla.metadata\" entry: expected a policy checkpoint", path);
    st_close(st);
    if (rc) return rc;
    if ((rc = student_init(p, &c, 0))) return rc;
    if ((rc = checkpoint_load(path, &p->params, NULL, NULL, NULL))) student_free(p);
    return rc;
}

int student_init_from(StudentPolicy *p, const char *path, const char *prefix)
{
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    size_t np = strlen(prefix);
    int matched = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) /* every tensor checked before any is copied */
        for (int i = 0; i < p->params.count && !rc; i++) {
            const Param *q = &p->params.items[i];
            if (strncmp(q->name, prefix, np) != 0) continue;
            matched += pass == 0;
            rc = pass == 0 ? st_check(st, q->name, q->tensor) : st_load(st, q->name, q->tensor);
        }
    if (!rc && !matched) rc = mvla_fail(MVLA_ERR_ARG, "init from %s: this policy has no parameter named %s*", path, prefix);
    if (rc == MVLA_ERR_ARG && matched)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s (expected a student checkpoint of mvla train with this policy's %s)",
                       mvla_error_message(), np ? "encoder" : "architecture");
    st_close(st);
    return rc;
}
