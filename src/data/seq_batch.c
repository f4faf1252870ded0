/* Episode-sequence batches: the segment list, per-epoch shuffle, filling one batch (one augmentation
 * draw per segment, frames normalised, targets per position) with the window loader's shared pieces,
 * and the optional background thread (prefetch.h). */
#include "data/seq_batch.h"

#include "base/error.h"
#include "data/batch.h"
#include "data/batch_epochs.h"

#include <stdlib.h>
#include <string.h>

void seq_batch_options_default(SeqBatchOptions *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 2;
    o->max_len = 24;
    o->window = 4;
    o->chunk = 1;
    o->shuffle = 1;
    o->skip_start = 1;
    o->prefetch = 1;
    for (int c = 0; c < 3; c++) o->std[c] = 1.0f;
    augment_off(&o->aug);
}

typedef struct {
    int k;          /* index into the loader's episode list */
    int start;      /* first frame (context included) */
    int first, end; /* loss positions first..end-1 */
} Segment;

typedef struct {
    SeqBatch b;
    uint8_t *img; /* one augmented frame */
} SeqSlot;

struct SeqLoader {
    const FrameCache *c;
    SeqBatchOptions o;
    int *eps;
    char **instr_mirrored;
    int n_eps;
    Segment *segs;
    long n_segs, n_positions;
    int max_frames; /* max_len + window - 1 */
    BatchEpochs ep; /* this epoch's order of the segments, batch by batch */
    float lut[3][256];
    SeqSlot slot[2];
};

/* Sets a tensor's leading dims to (rows, cols) over its allocation (the rest of the shape kept). */
static void set_dims(Tensor *t, int rows, int cols)
{
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->numel = shape_numel(t->ndim, t->shape);
}

static int fill_batch(SeqLoader *l, long b, int s)
{
    const SeqBatchOptions *o = &l->o;
    SeqBatch *bt = &l->slot[s].b;
    uint8_t *img = l->slot[s].img;
    const Preprocess *pre = cache_preprocess(l->c);
    int K = o->chunk, h = pre->height, w = pre->width;
    const Segment *order = l->ep.order;
    long start = b * o->batch_size;
    int count = (int)(l->n_segs - start < o->batch_size ? l->n_segs - start : o->batch_size), T = 1;
    for (int i = 0; i < count; i++) {
        const Segment *sg = &order[start + i];
        if (sg->end - sg->start > T) T = sg->end - sg->start;
    }
    set_dims(bt->frames, count, T);
    set_dims(bt->frame_mask, count, T);
    set_dims(bt->actions, count * T, K);
    set_dims(bt->action_mask, count * T, K);
    bt->count = count;
    bt->len = T;
    bt->positions = 0;
    size_t frame_floats = (size_t)3 * h * w;
    for (int i = 0; i < count; i++) {
        Segment sg = order[start + i];
        int ci = l->eps[sg.k], nf = sg.end - sg.start;
        const CacheEpisode *ep = cache_episode(l->c, ci);
        Rng r;
        rng_seed(&r, batch_seed_mix(o->seed, (uint64_t)l->ep.epoch, (uint64_t)(start + i)));
        AugmentDraw d;
        augment_draw(&o->aug, &r, w, h, &d);
        float *fr = bt->frames->data + (size_t)i * T * frame_floats, *fm = bt->frame_mask->data + (size_t)i * T;
        for (int j = 0; j < nf; j++) {
            int rc = batch_load_frame(l->c, ci, sg.start + j, &d, j, img, (const float(*)[256])l->lut,
                                      fr + (size_t)j * frame_floats);
            if (rc) return rc;
            fm[j] = 1.0f;
        }
        if (T > nf) {
            memset(fr + (size_t)nf * frame_floats, 0, (size_t)(T - nf) * frame_floats * sizeof(float));
            memset(fm + nf, 0, (size_t)(T - nf) * sizeof(float));
        }
        for (int j = 0; j < T; j++) {
            float *act = bt->actions->data + ((size_t)i * T + j) * K * 3;
            float *am = bt->action_mask->data + ((size_t)i * T + j) * K;
            int f = sg.start + j;
            if (f >= sg.first && f < sg.end) {
                batch_targets(ep, f, K, d.mirror, act, am);
                bt->positions++;
            } else {
                memset(act, 0, (size_t)K * 3 * sizeof(float));
                memset(am, 0, (size_t)K * sizeof(float));
            }
        }
        bt->instructions[i] = d.mirror ? l->instr_mirrored[sg.k] : ep->instruction;
        bt->episode[i] = ci;
        bt->start[i] = sg.start;
        bt->first[i] = sg.first;
        bt->frames_n[i] = nf;
        bt->mirrored[i] = d.mirror;
    }
    return MVLA_OK;
}

static int fill_job(void *ctx, long b, int s) { return fill_batch(ctx, b, s); }

static int alloc_slot(SeqSlot *s, const SeqBatchOptions *o, int T, int h, int w)
{
    int E = o->batch_size, K = o->chunk;
    SeqBatch *b = &s->b;
    b->frames = tensor_new_shape(5, E, T, 3, h, w);
    b->frame_mask = tensor_new_shape(2, E, T);
    b->actions = tensor_new_shape(3, E * T, K, 3);
    b->action_mask = tensor_new_shape(2, E * T, K);
    b->instructions = calloc((size_t)E, sizeof *b->instructions);
    int **ints[5] = {&b->episode, &b->start, &b->first, &b->frames_n, &b->mirrored};
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= (*ints[i] = calloc((size_t)E, sizeof(int))) != NULL;
    s->img = malloc((size_t)h * w * 3);
    if (!ok || !b->frames || !b->frame_mask || !b->actions || !b->action_mask || !b->instructions || !s->img)
        return mvla_fail(MVLA_ERR_NOMEM, "sequence batches: out of memory for %d segments of %d frames", E, T);
    return MVLA_OK;
}

static void free_slot(SeqSlot *s)
{
    SeqBatch *b = &s->b;
    tensor_free(b->frames);
    tensor_free(b->frame_mask);
    tensor_free(b->actions);
    tensor_free(b->action_mask);
    free(b->instructions);
    free(b->episode);
    free(b->start);
    free(b->first);
    free(b->frames_n);
    free(b->mirrored);
    free(s->img);
}

static int check_options(const SeqBatchOptions *o)
{
    if (o->batch_size < 1 || o->batch_size > 4096)
        return mvla_fail(MVLA_ERR_ARG, "sequence batches: batch_size %d: expected 1..4096", o->batch_size);
    if (o->max_len < 1 || o->max_len > 100000)
        return mvla_fail(MVLA_ERR_ARG, "sequence batches: max_len %d: expected 1..100000", o->max_len);
    if (o->window < 1 || o->window > 1024)
        return mvla_fail(MVLA_ERR_ARG, "sequence batches: window %d: expected 1..1024", o->window);
    if (o->chunk < 1 || o->chunk > 1024)
        return mvla_fail(MVLA_ERR_ARG, "sequence batches: chunk %d: expected 1..1024", o->chunk);
    if ((long)o->batch_size * (o->max_len + o->window - 1) > (1L << 24))
        return mvla_fail(MVLA_ERR_ARG, "sequence batches: %d segments of %d frames: too many frames per batch",
                         o->batch_size, o->max_len + o->window - 1);
    for (int c = 0; c < 3; c++)
        if (!(o->std[c] > 0) || o->mean[c] != o->mean[c])
            return mvla_fail(MVLA_ERR_ARG, "sequence batches: normalisation channel %d: expected a finite mean and std > 0", c);
    return augment_validate(&o->aug);
}

/* Cuts every episode's loss positions into segments of at most max_len, nearly equal. */
static int make_segments(SeqLoader *l)
{
    const SeqBatchOptions *o = &l->o;
    int t0 = o->skip_start ? 1 : 0;
    long cap = 0;
    for (int k = 0; k < l->n_eps; k++) {
        int P = cache_episode(l->c, l->eps[k])->num_frames - t0;
        if (P > 0) cap += (P + o->max_len - 1) / o->max_len;
    }
    l->segs = malloc(sizeof(Segment) * (size_t)(cap ? cap : 1));
    if (!l->segs) return mvla_fail(MVLA_ERR_NOMEM, "sequence batches: out of memory for %ld segments", cap);
    for (int k = 0; k < l->n_eps; k++) {
        int P = cache_episode(l->c, l->eps[k])->num_frames - t0;
        if (P <= 0) continue;
        int nseg = (P + o->max_len - 1) / o->max_len, pos = t0;
        for (int i = 0; i < nseg; i++) {
            int len = P / nseg + (i < P % nseg);
            int st = pos - (o->window - 1);
            l->segs[l->n_segs++] = (Segment){k, st < t0 ? t0 : st, pos, pos + len};
            pos += len;
        }
        l->n_positions += P;
    }
    return MVLA_OK;
}

int seq_loader_new(SeqLoader **out, const FrameCache *c, const int *episodes, int n_episodes, const SeqBatchOptions *o)
{
    *out = NULL;
    int rc = check_options(o);
    if (rc) return rc;
    int n = episodes ? n_episodes : cache_num_episodes(c);
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "sequence batches: no episodes chosen");
    SeqLoader *l = calloc(1, sizeof *l);
    if (!l) return mvla_fail(MVLA_ERR_NOMEM, "sequence batches: out of memory");
    l->c = c;
    l->o = *o;
    l->n_eps = n;
    l->max_frames = o->max_len + o->window - 1;
    rc = batch_episode_list(c, episodes, n, "sequence batches", &l->eps, &l->instr_mirrored);
    if (!rc) rc = make_segments(l);
    const Preprocess *pre = cache_preprocess(c);
    for (int s = 0; !rc && s < 2; s++) rc = alloc_slot(&l->slot[s], o, l->max_frames, pre->height, pre->width);
    batch_pixel_lut(o->mean, o->std, l->lut);
    BatchEpochOptions eo = {o->batch_size, o->drop_last, o->shuffle, o->prefetch, o->seed};
    if (!rc)
        rc = batch_epochs_init(&l->ep, l->segs, l->n_segs, sizeof(Segment), &eo, fill_job, l, "sequence batches",
                               "segments");
    if (!rc) rc = batch_epochs_start(&l->ep, 0);
    if (rc) {
        seq_loader_free(l);
        return rc;
    }
    *out = l;
    return MVLA_OK;
}

void seq_loader_free(SeqLoader *l)
{
    if (!l) return;
    batch_epochs_free(&l->ep); /* first: its thread may be filling a slot */
    for (int s = 0; s < 2; s++) free_slot(&l->slot[s]);
    batch_episode_list_free(l->eps, l->instr_mirrored, l->n_eps);
    free(l->segs);
    free(l);
}

long seq_loader_num_positions(const SeqLoader *l) { return l->n_positions; }
long seq_loader_num_segments(const SeqLoader *l) { return l->n_segs; }
long seq_loader_num_batches(const SeqLoader *l) { return l->ep.n_batches; }

int seq_loader_start_epoch(SeqLoader *l, int epoch) { return batch_epochs_start(&l->ep, epoch); }

int seq_loader_next(SeqLoader *l, const SeqBatch **out)
{
    long b;
    int rc = batch_epochs_next(&l->ep, &b);
    *out = !rc && b >= 0 ? &l->slot[b % 2].b : NULL;
    return rc;
}
