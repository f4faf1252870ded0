/* Episode-sequence batches: segments cover every loss position once with W-1 context frames, frames and
 * masks match the cache, targets and masks equal the window loader's for the same positions, one
 * augmentation draw per segment (mirror flips all its actions and its instruction), determinism per seed
 * and the background thread giving byte-identical batches. */
#include "base/error.h"
#include "data/augment.h"
#include "data/batch.h"
#include "data/cache.h"
#include "data/seq_batch.h"
#include "data_testutil.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { SW = 16, SH = 9 };
static const char *names[] = {
    "episode_20250101_120000_1box_vert_left_core_medium.h5",
    "episode_20250101_120500_2box_hori_right_variant_far.h5",
    "episode_20250101_121000_1box_hori_left_core_close.h5",
};
static const int lengths[] = {5, 11, 4};

static FrameCache *make_cache(void) { return dt_make_cache(names, lengths, 3, SW, SH, "s.cache"); }

/* frame j of segment i equals cache frame (ep, t), unnormalised. */
static int seq_frame_is(const SeqBatch *b, int i, int j, const FrameCache *c, int ep, int t)
{
    const float *f = b->frames->data + ((size_t)i * b->len + j) * 3 * SH * SW;
    const uint8_t *src = cache_frame(c, ep, t);
    for (int p = 0; p < SH * SW; p++)
        for (int ch = 0; ch < 3; ch++)
            if (f[ch * SH * SW + p] != (float)src[3 * p + ch] / 255.0f) return 0;
    return 1;
}

TEST(seq_batch_segments_frames_masks_and_targets)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    SeqBatchOptions o;
    seq_batch_options_default(&o);
    o.batch_size = 2, o.max_len = 4, o.window = 3, o.chunk = 2, o.shuffle = 0, o.prefetch = 0;
    SeqLoader *l;
    REQUIRE(seq_loader_new(&l, c, NULL, 0, &o) == 0);
    /* positions 1..n-1: 4 -> 1 segment, 10 -> 3 (4, 3, 3), 3 -> 1 */
    CHECK(seq_loader_num_positions(l) == 4 + 10 + 3);
    CHECK(seq_loader_num_segments(l) == 5 && seq_loader_num_batches(l) == 3);
    int covered[3][11] = {{0}};
    long positions = 0;
    const SeqBatch *b;
    int nb = 0;
    while (seq_loader_next(l, &b) == 0 && b) {
        nb++;
        CHECK(b->frames->shape[0] == b->count && b->frames->shape[1] == b->len);
        CHECK(b->actions->shape[0] == b->count * b->len && b->actions->shape[1] == 2);
        positions += b->positions;
        for (int i = 0; i < b->count; i++) {
            int ep = b->episode[i], n = lengths[ep];
            /* W-1 frames of context, fewer at the start, and never frame 0 (skip_start: not history either) */
            CHECK(b->first[i] - b->start[i] == (b->first[i] >= 3 ? 2 : b->first[i] - 1));
            CHECK(b->start[i] >= 1);
            CHECK(b->frames_n[i] <= b->len && b->start[i] + b->frames_n[i] <= n);
            for (int j = 0; j < b->len; j++) {
                int t = b->start[i] + j, real = j < b->frames_n[i];
                CHECK(b->frame_mask->data[i * b->len + j] == (real ? 1.0f : 0.0f));
                if (real) CHECK_MSG(seq_frame_is(b, i, j, c, ep, t), "segment %d frame %d != episode %d frame %d", i, j, ep, t);
                const float *am = b->action_mask->data + ((size_t)i * b->len + j) * 2;
                const float *act = b->actions->data + ((size_t)i * b->len + j) * 6;
                int loss = real && t >= b->first[i];
                if (loss) covered[ep][t]++;
                for (int k = 0; k < 2; k++) {
                    int want = loss && t + k < n;
                    CHECK(am[k] == (want ? 1.0f : 0.0f));
                    const float *ref = cache_episode(c, ep)->actions + 3 * (t + k);
                    for (int a = 0; a < 3; a++) CHECK(act[3 * k + a] == (want ? ref[a] : 0.0f));
                }
            }
        }
    }
    CHECK(nb == 3 && positions == 17);
    for (int ep = 0; ep < 3; ep++) /* every position but t = 0 exactly once */
        for (int t = 0; t < lengths[ep]; t++) CHECK(covered[ep][t] == (t == 0 ? 0 : 1));
    seq_loader_free(l);
    /* skip_start off: position 0 counts too */
    o.skip_start = 0;
    REQUIRE(seq_loader_new(&l, c, (int[]){1}, 1, &o) == 0);
    CHECK(seq_loader_num_positions(l) == 11 && seq_loader_num_segments(l) == 3);
    seq_loader_free(l);
    /* bad options */
    o.max_len = 0;
    CHECK(seq_loader_new(&l, c, NULL, 0, &o) == MVLA_ERR_ARG && strstr(mvla_error_message(), "max_len"));
    o.max_len = 4;
    CHECK(seq_loader_new(&l, c, (int[]){7}, 1, &o) == MVLA_ERR_ARG && strstr(mvla_error_message(), "episode index 7"));
    cache_close(c);
}

/* All bytes of a batch (frames, masks, targets, metadata) folded into one hash. */
static uint64_t batch_hash(const SeqBatch *b)
{
    uint64_t h = 1469598103934665603ull;
    const Tensor *ts[4] = {b->frames, b->frame_mask, b->actions, b->action_mask};
    for (int i = 0; i < 4; i++) {
        const unsigned char *p = (const unsigned char *)ts[i]->data;
        for (size_t k = 0; k < (size_t)ts[i]->numel * sizeof(float); k++) h = (h ^ p[k]) * 1099511628211ull;
    }
    for (int i = 0; i < b->count; i++) {
        h = (h ^ (uint64_t)(b->episode[i] * 131 + b->start[i] * 7 + b->mirrored[i])) * 1099511628211ull;
        for (const char *s = b->instructions[i]; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

TEST(seq_batch_deterministic_per_seed_and_thread_matches_synchronous)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    SeqBatchOptions o;
    seq_batch_options_default(&o);
    o.batch_size = 2, o.max_len = 3, o.window = 2, o.chunk = 2, o.seed = 5;
    augment_defaults(&o.aug);
    uint64_t h[3][2][8] = {{{0}}};
    for (int run = 0; run < 3; run++) {
        o.prefetch = run != 1;
        o.seed = run == 2 ? 6 : 5;
        SeqLoader *l;
        REQUIRE(seq_loader_new(&l, c, NULL, 0, &o) == 0);
        REQUIRE(seq_loader_num_batches(l) <= 8);
        for (int e = 0; e < 2; e++) {
            REQUIRE(seq_loader_start_epoch(l, e + 1) == 0);
            const SeqBatch *b;
            for (int i = 0; seq_loader_next(l, &b) == 0 && b; i++) h[run][e][i] = batch_hash(b);
        }
        seq_loader_free(l);
    }
    CHECK(memcmp(h[0], h[1], sizeof h[0]) == 0);           /* thread or not: the same bytes */
    CHECK(memcmp(h[0][0], h[0][1], sizeof h[0][0]) != 0);  /* epochs differ */
    CHECK(memcmp(h[0], h[2], sizeof h[0]) != 0);           /* seeds differ */
    cache_close(c);
}

TEST(seq_batch_one_augmentation_per_segment)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    SeqBatchOptions o;
    seq_batch_options_default(&o);
    o.batch_size = 5, o.max_len = 4, o.window = 3, o.chunk = 1, o.shuffle = 0, o.prefetch = 0, o.seed = 11;
    augment_off(&o.aug);
    o.aug.mirror_prob = 1.0f; /* a pure mirror: an exact flip of every frame */
    SeqLoader *l;
    REQUIRE(seq_loader_new(&l, c, NULL, 0, &o) == 0);
    const SeqBatch *b;
    REQUIRE(seq_loader_next(l, &b) == 0 && b && b->count == 5);
    for (int i = 0; i < b->count; i++) {
        int ep = b->episode[i];
        CHECK(b->mirrored[i]);
        if (ep == 0) CHECK(strstr(b->instructions[i], "right") != NULL);
        for (int j = 0; j < b->frames_n[i]; j++) {
            int t = b->start[i] + j, ok = 1;
            const float *f = b->frames->data + ((size_t)i * b->len + j) * 3 * SH * SW;
            const uint8_t *src = cache_frame(c, ep, t);
            for (int y = 0; y < SH; y++)
                for (int x = 0; x < SW; x++)
                    for (int ch = 0; ch < 3; ch++)
                        ok &= f[ch * SH * SW + y * SW + x] == (float)src[3 * (y * SW + SW - 1 - x) + ch] / 255.0f;
            CHECK_MSG(ok, "segment %d frame %d is not the mirrored cache frame", i, j);
            const float *act = b->actions->data + ((size_t)i * b->len + j) * 3;
            if (b->action_mask->data[i * b->len + j] != 0) {
                const float *ref = cache_episode(c, ep)->actions + 3 * t;
                CHECK(act[0] == ref[0] && act[1] == -ref[1] && act[2] == -ref[2]);
            }
        }
    }
    seq_loader_free(l);
    /* with the full default augmentation, the frames of one segment share one draw: two segments' draws
     * differ (frames of the same cache frame differ across segments), a segment's are consistent */
    augment_defaults(&o.aug);
    o.aug.noise_std = 0;
    o.aug.mirror_prob = 0.5f;
    REQUIRE(seq_loader_new(&l, c, NULL, 0, &o) == 0);
    REQUIRE(seq_loader_next(l, &b) == 0 && b);
    /* segments 1 and 2 both come from episode 1 (positions 1-4 and 5-7) and overlap in frames 3-4 (context of
     * segment 2): the same cache frame augmented by two draws differs */
    REQUIRE(b->episode[1] == 1 && b->episode[2] == 1 && b->start[2] == 3);
    const float *f1 = b->frames->data + ((size_t)1 * b->len + 3) * 3 * SH * SW;
    const float *f2 = b->frames->data + ((size_t)2 * b->len + 0) * 3 * SH * SW;
    CHECK(memcmp(f1, f2, sizeof(float) * 3 * SH * SW) != 0);
    seq_loader_free(l);
    cache_close(c);
}

/* Bad options and epochs are refused with the loader and the setting named; an epoch runs out with NULL. */
TEST(seq_batch_rejects_bad_options_and_epochs)
{
    FrameCache *c = make_cache();
    REQUIRE(c);
    SeqBatchOptions o;
    seq_batch_options_default(&o);
    o.prefetch = 0;
    SeqLoader *l = NULL;
    o.batch_size = 100, o.drop_last = 1;
    CHECK(seq_loader_new(&l, c, NULL, 0, &o) == MVLA_ERR_ARG && l == NULL);
    CHECK(strstr(mvla_error_message(), "sequence batches") && strstr(mvla_error_message(), "no full batch of 100"));
    o.batch_size = 2, o.drop_last = 0, o.max_len = 0;
    CHECK(seq_loader_new(&l, c, NULL, 0, &o) == MVLA_ERR_ARG && strstr(mvla_error_message(), "max_len"));
    o.max_len = 24;
    REQUIRE(seq_loader_new(&l, c, NULL, 0, &o) == 0);
    CHECK(seq_loader_start_epoch(l, -1) == MVLA_ERR_ARG && strstr(mvla_error_message(), "sequence batches: epoch -1"));
    long batches = 0;
    const SeqBatch *b = NULL;
    while (seq_loader_next(l, &b) == 0 && b) batches++;
    CHECK(batches == seq_loader_num_batches(l) && b == NULL);
    seq_loader_free(l);
    cache_close(c);
}
