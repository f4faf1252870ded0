/* Training batches: sample list, per-epoch shuffle, filling one batch (augment + normalise), and the
 * optional background thread that fills batch i+1 while the caller uses batch i (double buffering). */
#include "data/batch.h"

#include "base/error.h"
#include "data/actions.h"
#include "data/batch_epochs.h"

#include <stdlib.h>
#include <string.h>

void batch_options_default(BatchOptions *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 8;
    o->window = 4;
    o->chunk = 1;
    o->shuffle = 1;
    o->skip_start = 1;
    o->prefetch = 1;
    for (int c = 0; c < 3; c++) o->std[c] = 1.0f;
    augment_off(&o->aug);
}

typedef struct {
    int k; /* index into the loader's episode list */
    int t;
} Sample;

typedef struct {
    Batch b;
    uint8_t *img;  /* one augmented frame */
} Slot;

struct BatchLoader {
    const FrameCache *c;
    BatchOptions o;
    int *eps;               /* cache episode indices */
    char **instr_mirrored;  /* per entry of eps */
    int n_eps;
    Sample *samples;
    long n_samples;
    BatchEpochs ep;         /* this epoch's order of the samples, batch by batch */
    float lut[3][256];      /* pixel byte -> normalised value, per channel */
    Slot slot[2];
};

/* splitmix64 finaliser: a well-mixed 64-bit value from (seed, epoch, position). */
uint64_t batch_seed_mix(uint64_t seed, uint64_t epoch, uint64_t pos)
{
    uint64_t z = seed ^ (epoch * 0xD1B54A32D192ED03ull) ^ (pos * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void batch_pixel_lut(const float mean[3], const float std[3], float lut[3][256])
{
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) lut[ch][v] = ((float)v / 255.0f - mean[ch]) / std[ch];
}

int batch_load_frame(const FrameCache *c, int ci, int t, const AugmentDraw *d, int frame_index, uint8_t *scratch,
                     const float lut[3][256], float *dst)
{
    const Preprocess *pre = cache_preprocess(c);
    int w = pre->width, h = pre->height;
    const uint8_t *src = cache_frame(c, ci, t);
    if (!augment_is_identity(d)) {
        int rc = augment_image(d, frame_index, src, scratch, w, h);
        if (rc) return rc;
        src = scratch;
    }
    size_t plane = (size_t)h * w;
    for (size_t p = 0; p < plane; p++)
        for (int ch = 0; ch < 3; ch++) dst[ch * plane + p] = lut[ch][src[3 * p + ch]];
    return MVLA_OK;
}

void batch_targets(const CacheEpisode *ep, int t, int K, int mirror, float *act, float *mask)
{
    for (int k = 0; k < K; k++) {
        int tt = t + k;
        if (tt < ep->num_frames) {
            memcpy(act + 3 * k, ep->actions + 3 * tt, 3 * sizeof(float));
            if (mirror) action_mirror(act + 3 * k);
            mask[k] = 1.0f;
        } else {
            act[3 * k] = act[3 * k + 1] = act[3 * k + 2] = 0.0f;
            mask[k] = 0.0f;
        }
    }
}

static void set_rows(Tensor *t, int rows)
{
    long per_row = t->numel / t->shape[0];
    t->shape[0] = rows;
    t->numel = per_row * rows;
}

/* Fills slot s with batch index b of the current epoch. Depends only on (options, epoch, order, b). */
static int fill_batch(BatchLoader *l, long b, int s)
{
    const BatchOptions *o = &l->o;
    Slot *sl = &l->slot[s];
    Batch *bt = &sl->b;
    const Preprocess *pre = cache_preprocess(l->c);
    int W = o->window, K = o->chunk, h = pre->height, w = pre->width;
    long start = b * o->batch_size;
    int count = (int)(l->n_samples - start < o->batch_size ? l->n_samples - start : o->batch_size);
    Tensor *ts[4] = {bt->frames, bt->frame_mask, bt->actions, bt->action_mask};
    for (int i = 0; i < 4; i++) {
        ts[i]->shape[0] = o->batch_size;
        ts[i]->numel = shape_numel(ts[i]->ndim, ts[i]->shape);
        set_rows(ts[i], count);
    }
    bt->count = count;
    size_t plane = (size_t)h * w, frame_floats = 3 * plane;
    for (int i = 0; i < count; i++) {
        Sample sm = ((const Sample *)l->ep.order)[start + i];
        int ci = l->eps[sm.k];
        const CacheEpisode *ep = cache_episode(l->c, ci);
        Rng r;
        rng_seed(&r, batch_seed_mix(o->seed, (uint64_t)l->ep.epoch, (uint64_t)(start + i)));
        AugmentDraw d;
        augment_draw(&o->aug, &r, w, h, &d);
        float *fr = bt->frames->data + (size_t)i * W * frame_floats;
        float *fm = bt->frame_mask->data + (size_t)i * W;
        /* The window's first real frame is t0 (frame 0 is no history with skip_start, see batch.h). */
        int t0 = o->skip_start ? 1 : 0, first = sm.t - W + 1, j0 = first < t0 ? t0 - first : 0;
        for (int j = j0; j < W; j++) {
            int rc = batch_load_frame(l->c, ci, first + j, &d, j, sl->img, (const float(*)[256])l->lut,
                                      fr + (size_t)j * frame_floats);
            if (rc) return rc;
            fm[j] = 1.0f;
        }
        for (int j = 0; j < j0; j++) { /* padding: the first real frame again, masked out */
            memcpy(fr + (size_t)j * frame_floats, fr + (size_t)j0 * frame_floats, frame_floats * sizeof(float));
            fm[j] = 0.0f;
        }
        batch_targets(ep, sm.t, K, d.mirror, bt->actions->data + (size_t)i * K * 3, bt->action_mask->data + (size_t)i * K);
        bt->instructions[i] = d.mirror ? l->instr_mirrored[sm.k] : ep->instruction;
        bt->episode[i] = ci;
        bt->t[i] = sm.t;
        bt->mirrored[i] = d.mirror;
    }
    return MVLA_OK;
}

static int fill_job(void *ctx, long b, int s) { return fill_batch(ctx, b, s); }

/* ---- loader ---- */

static int alloc_slot(Slot *s, const BatchOptions *o, int h, int w)
{
    int B = o->batch_size, W = o->window, K = o->chunk;
    Batch *b = &s->b;
    b->frames = tensor_new_shape(5, B, W, 3, h, w);
    b->frame_mask = tensor_new_shape(2, B, W);
    b->actions = tensor_new_shape(3, B, K, 3);
    b->action_mask = tensor_new_shape(2, B, K);
    b->instructions = calloc((size_t)B, sizeof *b->instructions);
    b->episode = calloc((size_t)B, sizeof(int));
    b->t = calloc((size_t)B, sizeof(int));
    b->mirrored = calloc((size_t)B, sizeof(int));
    s->img = malloc((size_t)h * w * 3);
    if (!b->frames || !b->frame_mask || !b->actions || !b->action_mask || !b->instructions || !b->episode || !b->t ||
        !b->mirrored || !s->img)
        return mvla_fail(MVLA_ERR_NOMEM, "batches: out of memory for a batch of %d windows of %d frames", B, W);
    return MVLA_OK;
}

static void free_slot(Slot *s)
{
    Batch *b = &s->b;
    tensor_free(b->frames);
    tensor_free(b->frame_mask);
    tensor_free(b->actions);
    tensor_free(b->action_mask);
    free(b->instructions);
    free(b->episode);
    free(b->t);
    free(b->mirrored);
    free(s->img);
}

static int check_options(const BatchOptions *o)
{
    if (o->batch_size < 1 || o->batch_size > (1 << 20))
        return mvla_fail(MVLA_ERR_ARG, "batches: batch_size %d: expected 1..%d", o->batch_size, 1 << 20);
    if (o->window < 1 || o->window > 1024) return mvla_fail(MVLA_ERR_ARG, "batches: window %d: expected 1..1024", o->window);
    if (o->chunk < 1 || o->chunk > 1024) return mvla_fail(MVLA_ERR_ARG, "batches: chunk %d: expected 1..1024", o->chunk);
    for (int c = 0; c < 3; c++)
        if (!(o->std[c] > 0) || o->mean[c] != o->mean[c])
            return mvla_fail(MVLA_ERR_ARG, "batches: normalisation channel %d: expected a finite mean and std > 0", c);
    return augment_validate(&o->aug);
}

int batch_loader_new(BatchLoader **out, const FrameCache *c, const int *episodes, int n_episodes, const BatchOptions *o)
{
    *out = NULL;
    int rc = check_options(o);
    if (rc) return rc;
    int n = episodes ? n_episodes : cache_num_episodes(c);
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "batches: no episodes chosen");
    BatchLoader *l = calloc(1, sizeof *l);
    if (!l) return mvla_fail(MVLA_ERR_NOMEM, "batches: out of memory");
    l->c = c;
    l->o = *o;
    l->n_eps = n;
    rc = batch_episode_list(c, episodes, n, "batches", &l->eps, &l->instr_mirrored);
    long total = 0;
    for (int k = 0; !rc && k < n; k++) total += cache_episode(c, l->eps[k])->num_frames;
    if (!rc && !(l->samples = malloc(sizeof(Sample) * (size_t)(total ? total : 1))))
        rc = mvla_fail(MVLA_ERR_NOMEM, "batches: out of memory for %ld samples", total);
    for (int k = 0; !rc && k < n; k++) {
        const CacheEpisode *ep = cache_episode(c, l->eps[k]);
        for (int t = o->skip_start ? 1 : 0; t < ep->num_frames; t++) l->samples[l->n_samples++] = (Sample){k, t};
    }
    const Preprocess *pre = cache_preprocess(c);
    for (int s = 0; !rc && s < 2; s++) rc = alloc_slot(&l->slot[s], o, pre->height, pre->width);
    batch_pixel_lut(o->mean, o->std, l->lut);
    BatchEpochOptions eo = {o->batch_size, o->drop_last, o->shuffle, o->prefetch, o->seed};
    if (!rc) rc = batch_epochs_init(&l->ep, l->samples, l->n_samples, sizeof(Sample), &eo, fill_job, l, "batches", "samples");
    if (!rc) rc = batch_epochs_start(&l->ep, 0);
    if (rc) {
        batch_loader_free(l);
        return rc;
    }
    *out = l;
    return MVLA_OK;
}

void batch_loader_free(BatchLoader *l)
{
    if (!l) return;
    batch_epochs_free(&l->ep); /* first: its thread may be filling a slot */
    for (int s = 0; s < 2; s++) free_slot(&l->slot[s]);
    batch_episode_list_free(l->eps, l->instr_mirrored, l->n_eps);
    free(l->samples);
    free(l);
}

long batch_loader_num_samples(const BatchLoader *l) { return l->n_samples; }
long batch_loader_num_batches(const BatchLoader *l) { return l->ep.n_batches; }

int batch_episode_list(const FrameCache *c, const int *episodes, int n, const char *who, int **eps, char ***mirrored)
{
    *eps = malloc(sizeof(int) * (size_t)n);
    *mirrored = calloc((size_t)n, sizeof(char *));
    if (!*eps || !*mirrored) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", who);
    for (int k = 0; k < n; k++) {
        int ci = episodes ? episodes[k] : k;
        const CacheEpisode *ep = cache_episode(c, ci);
        if (!ep)
            return mvla_fail(MVLA_ERR_ARG, "%s: episode index %d: expected 0..%d", who, ci, cache_num_episodes(c) - 1);
        (*eps)[k] = ci;
        if (!((*mirrored)[k] = augment_swap_sides(ep->instruction))) return MVLA_ERR_NOMEM;
    }
    return MVLA_OK;
}

void batch_episode_list_free(int *eps, char **mirrored, int n)
{
    if (mirrored)
        for (int k = 0; k < n; k++) free(mirrored[k]);
    free(mirrored);
    free(eps);
}

void batch_shuffle(void *items, long n, size_t elem_size, uint64_t seed, int epoch)
{
    unsigned char *base = items;
    Rng r;
    rng_seed(&r, batch_seed_mix(seed, (uint64_t)epoch, UINT64_MAX));
    for (long i = n - 1; i > 0; i--) {
        long j = (long)rng_below(&r, (uint32_t)(i + 1));
        unsigned char *a = base + (size_t)i * elem_size, *b = base + (size_t)j * elem_size;
        for (size_t k = 0; k < elem_size; k++) {
            unsigned char t = a[k];
            a[k] = b[k];
            b[k] = t;
        }
    }
}

int batch_loader_start_epoch(BatchLoader *l, int epoch) { return batch_epochs_start(&l->ep, epoch); }

int batch_loader_next(BatchLoader *l, const Batch **out)
{
    long b;
    int rc = batch_epochs_next(&l->ep, &b);
    *out = !rc && b >= 0 ? &l->slot[b % 2].b : NULL;
    return rc;
}
