/* Training the CLIP heads on stored features (see train_clip.h). */
#include "train/train_clip.h"

#include "base/error.h"
#include "data/batch.h"
#include "models/clip_features.h"
#include "tensor/ops_shape.h"
#include "train/model_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int v, e, t; /* variant, cache episode, frame */
} Sample;

typedef struct {
    Sample *s;
    long n;
} SampleList;

struct ClipTrain {
    ClipPolicy pol;
    int have_pol;
    ClipFeatures *feat;
    json_t *backbone;        /* clip_backbone_json, kept after the backbone is closed */
    const FrameCache *cache;
    int batch_size, V, E;
    int t0;                  /* first frame of an episode as the robot sees it (1 with skip_start) */
    uint64_t seed;
    int *text_row;           /* [V * E]: the text_embeds row of episode e's instruction in variant v */
    float *texts;            /* [S, P] */
    SampleList train, val;
    long *order;             /* the training samples' order this epoch */
    long pos;                /* next sample of the epoch */
    int val_mode;
    ClipBatch b;
    float *img;              /* one frame's image embedding */
};

void clip_train_free(ClipTrain *t)
{
    if (!t) return;
    if (t->have_pol) clip_policy_free(&t->pol);
    clip_features_free(t->feat);
    json_decref(t->backbone);
    free(t->text_row), free(t->texts);
    free(t->train.s), free(t->val.s), free(t->order);
    free(t->b.fused), free(t->b.tokens), free(t->b.frame_mask), free(t->b.actions), free(t->b.action_mask);
    free(t->img);
    free(t);
}

int clip_train_resolve(TrainConfig *c, const char *backbone)
{
    if (!c->is_clip) {
        if (backbone)
            return mvla_fail(MVLA_ERR_ARG, "--backbone %s: the %s preset trains the student (its own image encoder): "
                             "a backbone goes with the clip-mlp, clip-lstm, clip-aug and clip-resampler presets",
                             backbone, c->preset);
        return 0;
    }
    if (backbone) {
        if (strlen(backbone) >= sizeof c->clip.backbone)
            return mvla_fail(MVLA_ERR_ARG, "--backbone: path longer than %zu bytes", sizeof c->clip.backbone - 1);
        snprintf(c->clip.backbone, sizeof c->clip.backbone, "%s", backbone);
        c->clip.image_size = c->clip.embed_dim = c->clip.token_count = c->clip.token_dim = 0;
    }
    if (!c->clip.backbone[0])
        return mvla_fail(MVLA_ERR_ARG, "preset %s: a CLIP backbone is needed: --backbone PATH/TO/clip-folder (a Hugging "
                         "Face CLIP folder: config.json, model.safetensors, vocab.json, merges.txt)", c->preset);
    ClipConfig cc;
    int rc = clip_config_load(&cc, c->clip.backbone);
    if (rc) return mvla_fail(rc, "backbone %s: %s", c->clip.backbone, mvla_error_message());
    if (cc.towers != CLIP_TOWERS_BOTH)
        return mvla_fail(MVLA_ERR_ARG, "backbone %s: config.json describes a single tower: expected a CLIPModel (both "
                         "towers)", c->clip.backbone);
    const int want[4] = {cc.vision.image_size, cc.projection_dim, clip_vision_tokens(&cc.vision), cc.vision.hidden_size};
    int *have[4] = {&c->clip.image_size, &c->clip.embed_dim, &c->clip.token_count, &c->clip.token_dim};
    for (int i = 0; i < 4; i++) {
        if (*have[i] && *have[i] != want[i])
            return mvla_fail(MVLA_ERR_ARG, "backbone %s: its shapes differ from those the config records (clip.image_size, "
                             "embed_dim, token_count, token_dim): another backbone?", c->clip.backbone);
        *have[i] = want[i];
    }
    return 0;
}

static int add_samples(SampleList *l, const FrameCache *c, const int *idx, int n, int variants, int t0)
{
    long total = 0;
    for (int i = 0; i < n; i++) {
        int T = cache_episode(c, idx[i])->num_frames;
        total += variants * (long)(T > t0 ? T - t0 : 0);
    }
    l->s = malloc(sizeof *l->s * (size_t)(total ? total : 1));
    if (!l->s) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    for (int v = 0; v < variants; v++)
        for (int i = 0; i < n; i++)
            for (int t = t0; t < cache_episode(c, idx[i])->num_frames; t++) l->s[l->n++] = (Sample){v, idx[i], t};
    return 0;
}

/* text_row and the text embeddings. */
static int map_texts(ClipTrain *t)
{
    int P = clip_features_dim(t->feat), S = clip_features_text_count(t->feat);
    t->text_row = malloc(sizeof(int) * (size_t)(t->V * t->E));
    t->texts = malloc(sizeof(float) * (size_t)(S ? S : 1) * (size_t)P);
    if (!t->text_row || !t->texts) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < S; i++) clip_features_text(t->feat, i, t->texts + (long)i * P);
    for (int v = 0; v < t->V; v++)
        for (int e = 0; e < t->E; e++) {
            const char *ins = cache_episode(t->cache, e)->instruction;
            char *sw = clip_features_mirrored(t->feat, v, e) ? augment_swap_sides(ins) : NULL;
            int row = clip_features_text_index(t->feat, sw ? sw : ins);
            free(sw);
            if (row < 0)
                return mvla_fail(MVLA_ERR_FORMAT, "%s: no text embedding for the instruction of %s",
                                 clip_features_path(t->feat), cache_episode(t->cache, e)->file);
            t->text_row[v * t->E + e] = row;
        }
    return 0;
}

static int alloc_batch(ClipTrain *t)
{
    const ClipPolicyConfig *c = &t->pol.cfg;
    long n = (long)t->batch_size * c->head.window, K = c->act.action.chunk;
    ClipBatch *b = &t->b;
    b->window = c->head.window;
    b->fused = malloc(sizeof(float) * (size_t)(n * t->pol.fused_dim));
    b->tokens = c->resampler.enabled ? malloc(sizeof(float) * (size_t)n * c->token_count * c->token_dim) : NULL;
    b->frame_mask = malloc(sizeof(float) * (size_t)n);
    b->actions = malloc(sizeof(float) * (size_t)(t->batch_size * K * 3));
    b->action_mask = malloc(sizeof(float) * (size_t)(t->batch_size * K));
    t->img = malloc(sizeof(float) * (size_t)c->embed_dim);
    if (!b->fused || (c->resampler.enabled && !b->tokens) || !b->frame_mask || !b->actions || !b->action_mask || !t->img)
        return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory for batches of %d windows", t->batch_size);
    return 0;
}

int clip_train_new(ClipTrain **out, const TrainConfig *c, const FrameCache *cache, const int *train_idx, int n_train,
                   const int *val_idx, int n_val, ClipTrainProgressFn progress, void *ctx)
{
    *out = NULL;
    ClipTrain *t = calloc(1, sizeof *t);
    if (!t) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    t->cache = cache;
    t->batch_size = c->train.batch_size;
    t->seed = c->train.seed;
    t->E = cache_num_episodes(cache);
    ClipPolicyConfig pc = c->clip;
    ClipBackbone *bb = NULL;
    int rc = clip_backbone_open(&bb, pc.backbone);
    if (!rc) rc = clip_policy_config_set_backbone(&pc, bb, "config: clip");
    ClipFeatureOptions fo;
    clip_feature_options_default(&fo);
    fo.tokens = pc.resampler.enabled;
    fo.copies = pc.copies;
    if (pc.copies) fo.aug = c->train.augment;
    fo.seed = c->train.seed;
    fo.progress = progress;
    fo.progress_ctx = ctx;
    if (!rc) rc = clip_features_open_or_build(&t->feat, cache, bb, &fo, NULL);
    if (!rc && !(t->backbone = clip_backbone_json(bb))) rc = mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    clip_backbone_free(bb); /* the features hold all that training needs */
    if (!rc && !(rc = clip_policy_init(&t->pol, &pc, c->train.seed))) t->have_pol = 1;
    int t0 = t->t0 = c->train.skip_start ? 1 : 0;
    t->V = t->feat ? clip_features_variants(t->feat) : 1;
    if (!rc) rc = map_texts(t);
    if (!rc) rc = add_samples(&t->train, cache, train_idx, n_train, t->V, t0);
    if (!rc) rc = add_samples(&t->val, cache, val_idx, n_val, 1, t0);
    if (!rc) rc = alloc_batch(t);
    if (!rc && !(t->order = malloc(sizeof *t->order * (size_t)(t->train.n ? t->train.n : 1))))
        rc = mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    if (!rc && t->train.n == 0) rc = mvla_fail(MVLA_ERR_ARG, "train: the training episodes hold no samples");
    if (rc) {
        clip_train_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

ClipPolicy *clip_train_policy(ClipTrain *t) { return &t->pol; }
ParamList *clip_train_params(ClipTrain *t) { return &t->pol.params; }
long clip_train_batches(const ClipTrain *t) { return (t->train.n + t->batch_size - 1) / t->batch_size; }
int clip_train_has_val(const ClipTrain *t) { return t->val.n > 0; }
const char *clip_train_features_path(const ClipTrain *t) { return clip_features_path(t->feat); }

int clip_train_start(ClipTrain *t, int val, int epoch)
{
    t->pos = 0;
    t->val_mode = val;
    if (!val) { /* the canonical order, shuffled by (seed, epoch): the same for a resumed run */
        for (long i = 0; i < t->train.n; i++) t->order[i] = i;
        batch_shuffle(t->order, t->train.n, sizeof *t->order, t->seed, epoch);
    }
    return 0;
}

int clip_train_next(ClipTrain *t, int val, const ClipBatch **out)
{
    *out = NULL;
    const SampleList *l = val ? &t->val : &t->train;
    if (t->pos >= l->n) return 0;
    const ClipPolicy *p = &t->pol;
    const ClipPolicyConfig *c = &p->cfg;
    int W = c->head.window, K = c->act.action.chunk, P = c->embed_dim, F = p->fused_dim;
    long tok = (long)c->token_count * c->token_dim;
    ClipBatch *b = &t->b;
    b->count = (int)(l->n - t->pos < t->batch_size ? l->n - t->pos : t->batch_size);
    b->padded = 0;
    for (int i = 0; i < b->count; i++, t->pos++) {
        const Sample *s = &l->s[val ? t->pos : t->order[t->pos]];
        const CacheEpisode *ep = cache_episode(t->cache, s->e);
        const float *txt = t->texts + (long)t->text_row[s->v * t->E + s->e] * P;
        for (int j = 0; j < W; j++) {
            int f = s->t - W + 1 + j, real = f >= t->t0;
            long row = (long)i * W + j, frame = ep->frame_offset + (real ? f : t->t0);
            b->frame_mask[row] = (float)real;
            b->padded |= !real;
            clip_features_image(t->feat, s->v, frame, t->img);
            clip_policy_fuse(p, t->img, txt, b->fused + row * F);
            if (b->tokens) clip_features_tokens(t->feat, s->v, frame, b->tokens + row * tok);
        }
        batch_targets(ep, s->t, K, clip_features_mirrored(t->feat, s->v, s->e), b->actions + (long)i * K * 3,
                      b->action_mask + (long)i * K);
    }
    *out = b;
    return 0;
}

Tensor *clip_train_forward(ClipTrain *t, Graph *g, const ClipBatch *b, int training, Rng *rng)
{
    ClipPolicy *p = &t->pol;
    const ClipPolicyConfig *c = &p->cfg;
    int n = b->count * b->window;
    Tensor *fused = graph_tensor(g, 2, (int[]){n, p->fused_dim});
    Tensor *tok = b->tokens ? graph_tensor(g, 3, (int[]){n, c->token_count, c->token_dim}) : NULL;
    if (!fused || (b->tokens && !tok)) {
        mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
        return NULL;
    }
    memcpy(fused->data, b->fused, sizeof(float) * (size_t)fused->numel);
    if (tok) memcpy(tok->data, b->tokens, sizeof(float) * (size_t)tok->numel);
    Tensor *f = clip_policy_frame_features(g, p, fused, tok, training, rng);
    if (f) f = op_reshape(g, f, 3, (int[]){b->count, b->window, c->feature_dim});
    return clip_policy_head(g, p, f, b->padded ? b->frame_mask : NULL, training, rng);
}

char *clip_train_metadata(ClipTrain *t, const TrainConfig *c, json_t *provenance, json_t *trainer)
{
    json_t *root = clip_policy_metadata(&t->pol, NULL);
    if (!root) return NULL;
    json_object_set(root, "backbone", t->backbone);
    model_meta_add_common(root, c, provenance, trainer);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    return text;
}
