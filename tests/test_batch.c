/* Batches: window padding and masks at an episode's start, targets and masks at its end, every
 * sample once per epoch in a seed-determined order, mirror semantics, normalisation, and the
 * background thread giving byte-identical batches to the synchronous path. */
#include "base/error.h"
#include "data/augment.h"
#include "data/batch.h"
#include "data/cache.h"
#include "data_testutil.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { BW = 16, BH = 9 };
static const char *names[] = {
    "episode_20250101_120000_1box_vert_left_core_medium.h5",
    "episode_20250101_120500_2box_hori_right_variant_far.h5",
    "episode_20250101_121000_1box_hori_left_core_close.h5",
};
static const int lengths[] = {5, 7, 4};

static FrameCache *make_cache(void) { return dt_make_cache(names, lengths, 3, BW, BH, "b.cache"); }

/* frames[b][j] of a batch equals cache frame (ep, t) unnormalised (mean 0, std 1). */
static int window_frame_is(const Batch *b, int W, int i, int j, const FrameCache *c, int ep, int t)
{
    const float *f = b->frames->data + ((size_t)i * W + j) * 3 * BH * BW;
    const uint8_t *src = cache_frame(c, ep, t);
    for (int p = 0; p < BH * BW; p++)
        for (int ch = 0; ch < 3; ch++)
            if (f[ch * BH * BW + p] != (float)src[3 * p + ch] / 255.0f) return 0;
    return 1;
}

/* Windows from frame t0 on (t0 = 1 with skip_start: frame 0 is no history either, as at run time). */
static void check_windows(int skip_start)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    BatchOptions o;
    batch_options_default(&o);
    o.batch_size = 1, o.window = 4, o.chunk = 3, o.shuffle = 0, o.skip_start = skip_start, o.prefetch = 0;
    BatchLoader *l = NULL;
    int ep0 = cache_find(c, names[0]), t0 = skip_start ? 1 : 0;
    REQUIRE(batch_loader_new(&l, c, &ep0, 1, &o) == 0);
    CHECK(batch_loader_num_samples(l) == lengths[0] - t0 && batch_loader_num_batches(l) == lengths[0] - t0);
    const CacheEpisode *e = cache_episode(c, ep0);
    for (int t = t0; t < lengths[0]; t++) {
        const Batch *b = NULL;
        REQUIRE(batch_loader_next(l, &b) == 0 && b);
        CHECK(b->count == 1 && b->t[0] == t && b->episode[0] == ep0 && !b->mirrored[0]);
        CHECK(b->frames->shape[0] == 1 && b->frames->shape[1] == 4 && b->frames->shape[2] == 3 && b->frames->shape[3] == BH &&
              b->frames->shape[4] == BW);
        for (int j = 0; j < 4; j++) {
            int src_t = t - 3 + j;
            float mask = b->frame_mask->data[j];
            CHECK_MSG(mask == (src_t >= t0 ? 1.0f : 0.0f), "t %d slot %d: mask %g", t, j, (double)mask);
            CHECK_MSG(window_frame_is(b, 4, 0, j, c, ep0, src_t < t0 ? t0 : src_t), "t %d slot %d: wrong frame", t, j);
        }
        for (int k = 0; k < 3; k++) {
            int tt = t + k;
            const float *a = b->actions->data + 3 * k;
            if (tt < e->num_frames) {
                CHECK(b->action_mask->data[k] == 1.0f);
                CHECK(a[0] == e->actions[3 * tt] && a[1] == e->actions[3 * tt + 1] && a[2] == e->actions[3 * tt + 2]);
            } else {
                CHECK(b->action_mask->data[k] == 0.0f);
                CHECK(a[0] == 0 && a[1] == 0 && a[2] == 0);
            }
        }
        CHECK(strcmp(b->instructions[0], "Pass on the left side") == 0);
    }
    const Batch *end = (const Batch *)1;
    REQUIRE(batch_loader_next(l, &end) == 0);
    CHECK(end == NULL);
    batch_loader_free(l);
    cache_close(c);
}

TEST(batch_windows_pad_the_start_and_mask_the_end)
{
    check_windows(0);
    check_windows(1);
}

/* Every (episode, t) of an epoch as "e:t" keys in order. */
static int epoch_keys(BatchLoader *l, int epoch, int *keys, int max)
{
    batch_loader_start_epoch(l, epoch);
    int n = 0;
    const Batch *b;
    while (batch_loader_next(l, &b) == 0 && b)
        for (int i = 0; i < b->count && n < max; i++) keys[n++] = b->episode[i] * 1000 + b->t[i];
    return n;
}

TEST(batch_order_is_deterministic_per_seed_and_covers_each_sample_once)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    BatchOptions o;
    batch_options_default(&o);
    o.batch_size = 4, o.seed = 5;
    BatchLoader *a = NULL, *b = NULL, *d = NULL;
    REQUIRE(batch_loader_new(&a, c, NULL, 0, &o) == 0);
    REQUIRE(batch_loader_new(&b, c, NULL, 0, &o) == 0);
    o.seed = 6;
    REQUIRE(batch_loader_new(&d, c, NULL, 0, &o) == 0);
    int n_expected = (5 - 1) + (7 - 1) + (4 - 1); /* skip_start: no t = 0 */
    CHECK(batch_loader_num_samples(a) == n_expected);
    CHECK(batch_loader_num_batches(a) == (n_expected + 3) / 4);
    int ka[64], kb[64], kd[64], ka1[64];
    int na = epoch_keys(a, 0, ka, 64), nb = epoch_keys(b, 0, kb, 64), nd = epoch_keys(d, 0, kd, 64);
    int na1 = epoch_keys(a, 1, ka1, 64);
    CHECK(na == n_expected && nb == na && nd == na && na1 == na);
    CHECK_MSG(memcmp(ka, kb, sizeof(int) * (size_t)na) == 0, "same seed, different order");
    CHECK_MSG(memcmp(ka, kd, sizeof(int) * (size_t)na) != 0, "different seeds, same order");
    CHECK_MSG(memcmp(ka, ka1, sizeof(int) * (size_t)na) != 0, "epochs 0 and 1 have the same order");
    /* each sample exactly once per epoch, and none at t = 0 */
    int once = 1;
    for (int i = 0; i < na; i++) {
        once &= ka[i] % 1000 != 0;
        for (int j = i + 1; j < na; j++) once &= ka[i] != ka[j];
    }
    CHECK(once);
    /* shuffled across episodes: the first batch does not come from one episode in order */
    CHECK(!(ka[0] / 1000 == ka[1] / 1000 && ka[1] / 1000 == ka[2] / 1000 && ka[3] / 1000 == ka[0] / 1000));
    /* epoch 0 again: the same order */
    int again[64];
    CHECK(epoch_keys(a, 0, again, 64) == na && memcmp(ka, again, sizeof(int) * (size_t)na) == 0);
    /* the last batch is partial: its tensors have count rows */
    batch_loader_start_epoch(a, 0);
    const Batch *bt = NULL, *last = NULL;
    while (batch_loader_next(a, &bt) == 0 && bt) last = bt;
    REQUIRE(last);
    CHECK(last->count == n_expected % 4 && last->frames->shape[0] == last->count && last->actions->shape[0] == last->count);
    CHECK(last->frames->numel == (long)last->count * o.window * 3 * BH * BW);
    batch_loader_free(a);
    batch_loader_free(b);
    batch_loader_free(d);
    cache_close(c);
}

/* All batches of one epoch, concatenated as bytes (tensors, then instruction texts). */
static size_t epoch_bytes(BatchLoader *l, int epoch, unsigned char **out)
{
    size_t n = 0, cap = 1 << 16;
    unsigned char *buf = malloc(cap);
    batch_loader_start_epoch(l, epoch);
    const Batch *b;
    while (batch_loader_next(l, &b) == 0 && b) {
        const Tensor *ts[4] = {b->frames, b->frame_mask, b->actions, b->action_mask};
        for (int i = 0; i < 4 + b->count; i++) {
            const void *p = i < 4 ? (const void *)ts[i]->data : (const void *)b->instructions[i - 4];
            size_t len = i < 4 ? sizeof(float) * (size_t)ts[i]->numel : strlen(b->instructions[i - 4]) + 1;
            while (n + len > cap) buf = realloc(buf, cap *= 2);
            memcpy(buf + n, p, len);
            n += len;
        }
    }
    *out = buf;
    return n;
}

TEST(batch_background_thread_matches_synchronous)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    BatchOptions o;
    batch_options_default(&o);
    o.batch_size = 3, o.window = 3, o.chunk = 2, o.seed = 11;
    augment_defaults(&o.aug); /* everything on, noise included */
    o.aug.blur_prob = 0.5f;
    o.mean[0] = 0.5f, o.std[1] = 0.25f;
    BatchLoader *sync = NULL, *bg = NULL;
    o.prefetch = 0;
    REQUIRE(batch_loader_new(&sync, c, NULL, 0, &o) == 0);
    o.prefetch = 1;
    REQUIRE(batch_loader_new(&bg, c, NULL, 0, &o) == 0);
    for (int epoch = 0; epoch < 3; epoch++) {
        unsigned char *x = NULL, *y = NULL;
        size_t nx = epoch_bytes(sync, epoch, &x), ny = epoch_bytes(bg, epoch, &y);
        CHECK_MSG(nx == ny && memcmp(x, y, nx) == 0, "epoch %d: background batches differ from synchronous ones", epoch);
        free(x);
        free(y);
    }
    /* stop in the middle of an epoch, start another: still the same */
    const Batch *b;
    batch_loader_start_epoch(bg, 0);
    REQUIRE(batch_loader_next(bg, &b) == 0 && b);
    unsigned char *x = NULL, *y = NULL;
    size_t nx = epoch_bytes(sync, 2, &x), ny = epoch_bytes(bg, 2, &y);
    CHECK(nx == ny && memcmp(x, y, nx) == 0);
    free(x);
    free(y);
    batch_loader_free(sync);
    batch_loader_free(bg);
    /* freeing a loader whose thread is mid-epoch is clean (ASan/TSan would complain otherwise) */
    REQUIRE(batch_loader_new(&bg, c, NULL, 0, &o) == 0);
    batch_loader_free(bg);
    cache_close(c);
}

TEST(batch_mirror_flips_frames_actions_and_instruction)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    BatchOptions o;
    batch_options_default(&o);
    o.batch_size = 4, o.window = 2, o.chunk = 2, o.shuffle = 0, o.prefetch = 0;
    o.aug.mirror_prob = 1.0f;
    BatchLoader *l = NULL;
    int ep0 = cache_find(c, names[0]);
    REQUIRE(batch_loader_new(&l, c, &ep0, 1, &o) == 0);
    const Batch *b = NULL;
    REQUIRE(batch_loader_next(l, &b) == 0 && b);
    const CacheEpisode *e = cache_episode(c, ep0);
    for (int i = 0; i < b->count; i++) {
        CHECK(b->mirrored[i]);
        int t = b->t[i];
        const float *f = b->frames->data + ((size_t)i * 2 + 1) * 3 * BH * BW; /* the window's last frame = t */
        const uint8_t *src = cache_frame(c, ep0, t);
        int flipped = 1;
        for (int y = 0; y < BH; y++)
            for (int x = 0; x < BW; x++)
                for (int ch = 0; ch < 3; ch++)
                    flipped &= f[ch * BH * BW + y * BW + x] == (float)src[(y * BW + (BW - 1 - x)) * 3 + ch] / 255.0f;
        CHECK_MSG(flipped, "sample %d: frame is not the mirrored cache frame", i);
        const float *a = b->actions->data + (size_t)i * 2 * 3;
        CHECK(a[0] == e->actions[3 * t] && a[1] == -e->actions[3 * t + 1] && a[2] == -e->actions[3 * t + 2]);
        CHECK(strcmp(b->instructions[i], "Pass on the right side") == 0);
    }
    batch_loader_free(l);
    cache_close(c);
}

TEST(batch_normalises_and_rejects_bad_options)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    BatchOptions o;
    batch_options_default(&o);
    o.batch_size = 2, o.window = 1, o.shuffle = 0, o.prefetch = 0;
    o.mean[0] = 0.48f, o.mean[1] = 0.46f, o.mean[2] = 0.41f;
    o.std[0] = 0.27f, o.std[1] = 0.26f, o.std[2] = 0.28f;
    BatchLoader *l = NULL;
    REQUIRE(batch_loader_new(&l, c, NULL, 0, &o) == 0);
    const Batch *b = NULL;
    REQUIRE(batch_loader_next(l, &b) == 0 && b);
    const uint8_t *src = cache_frame(c, b->episode[0], b->t[0]);
    double worst = 0;
    for (int p = 0; p < BH * BW; p++)
        for (int ch = 0; ch < 3; ch++) {
            double want = ((double)src[3 * p + ch] / 255.0 - o.mean[ch]) / o.std[ch];
            double d = fabs(b->frames->data[ch * BH * BW + p] - want);
            worst = d > worst ? d : worst;
        }
    CHECK(worst < 1e-5);
    batch_loader_free(l);

    BatchOptions bad = o;
    bad.std[2] = 0;
    CHECK(batch_loader_new(&l, c, NULL, 0, &bad) == MVLA_ERR_ARG && l == NULL);
    bad = o;
    bad.window = 0;
    CHECK(batch_loader_new(&l, c, NULL, 0, &bad) == MVLA_ERR_ARG);
    bad = o;
    bad.aug.hue = 0.9f;
    CHECK(batch_loader_new(&l, c, NULL, 0, &bad) == MVLA_ERR_ARG);
    int wrong = 7;
    CHECK(batch_loader_new(&l, c, &wrong, 1, &o) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "episode index 7") != NULL);
    bad = o;
    bad.batch_size = 100, bad.drop_last = 1;
    CHECK(batch_loader_new(&l, c, NULL, 0, &bad) == MVLA_ERR_ARG && l == NULL);
    CHECK(strstr(mvla_error_message(), "samples make no full batch of 100") != NULL);
    REQUIRE(batch_loader_new(&l, c, NULL, 0, &o) == 0);
    CHECK(batch_loader_start_epoch(l, -1) == MVLA_ERR_ARG && strstr(mvla_error_message(), "epoch -1"));
    batch_loader_free(l);
    cache_close(c);
}
