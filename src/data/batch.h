/* Training batches from the frame cache.
 *
 * A sample is (episode, t): the window of W frames ending at frame t (frames t-W+1..t; before the
 * episode's first frame the first frame is repeated and marked as padding), the instruction text, and the
 * next K actions as targets (frames t..t+K-1; past the episode's end zeros marked as padding).
 * Each epoch the samples of all chosen episodes are shuffled together (seeded by seed and epoch) and
 * cut into batches. Each sample draws its own augmentation (AugmentDraw) from a seed that depends only
 * on (seed, epoch, position in the epoch), applies it to all its frames, its actions and its
 * instruction (mirror), so a batch's content never depends on threads or timing.
 *
 * With prefetch on, a background thread (pthreads) prepares batch i+1 while the caller uses batch i;
 * the results are byte-identical to prefetch off.
 *
 * Tensors (persistent, owned by the loader, valid until the next batch_loader_next call):
 *   frames       [B, W, 3, H, Wd]  (pixel / 255 - mean[c]) / std[c]
 *   frame_mask   [B, W]            1 real frame, 0 padding (repeat of the first frame)
 *   actions      [B, K, 3]         targets [linear_x, linear_y, angular_z] in raw units
 *   action_mask  [B, K]            1 real action, 0 past the end of the episode
 * The last batch of an epoch may be smaller (count < batch_size, unless drop_last): every tensor's
 * first dimension is then count. */
#ifndef MVLA_BATCH_H
#define MVLA_BATCH_H

#include "data/augment.h"
#include "data/cache.h"
#include "tensor/tensor.h"

#include <stdint.h>

typedef struct {
    int batch_size;        /* B (default 8) */
    int window;            /* W frames per sample (default 4) */
    int chunk;             /* K target actions per sample (default 1) */
    uint64_t seed;         /* shuffling and augmentation (default 0) */
    int shuffle;           /* 1: shuffle each epoch (default); 0: episode order, t ascending */
    int drop_last;         /* 1: skip a final partial batch (default 0) */
    int skip_start;        /* 1: frame 0 (the zero "episode_start" record) is neither a sample nor history:
                            * episodes begin at frame 1, as the robot's camera stream does (default 1) */
    int prefetch;          /* 1: background thread (default) */
    float mean[3], std[3]; /* per-channel normalisation of [0,1] pixels (default 0 and 1: none) */
    AugmentParams aug;     /* default: augment_off (set augment_defaults for training) */
} BatchOptions;

void batch_options_default(BatchOptions *o);

typedef struct {
    int count;              /* samples in this batch (<= batch_size) */
    Tensor *frames, *frame_mask, *actions, *action_mask;
    const char **instructions; /* count strings (mirrored samples get the swapped text) */
    int *episode;           /* count cache episode indices */
    int *t;                 /* count frame indices (the last frame of each window) */
    int *mirrored;          /* count flags */
} Batch;

typedef struct BatchLoader BatchLoader;

/* episodes: indices into the cache (e.g. a split's training set mapped with cache_find), or NULL
 * for all of them. The cache must outlive the loader. */
int batch_loader_new(BatchLoader **out, const FrameCache *c, const int *episodes, int n_episodes,
                     const BatchOptions *o);
void batch_loader_free(BatchLoader *l);

/* Samples per epoch and batches per epoch. */
long batch_loader_num_samples(const BatchLoader *l);
long batch_loader_num_batches(const BatchLoader *l);

/* Starts epoch e (0, 1, ...): a fresh shuffle; with prefetch the first batch starts at once. */
int batch_loader_start_epoch(BatchLoader *l, int epoch);
/* The next batch of the epoch in *out, or *out = NULL when the epoch is over. */
int batch_loader_next(BatchLoader *l, const Batch **out);

/* ---- pieces shared with the episode-sequence loader (seq_batch.c) ---- */

/* The per-sample seed: a well-mixed value of (seed, epoch, position in the epoch); the epoch's shuffle
 * uses position UINT64_MAX. */
/* The episodes a loader draws from: (*eps)[k] = episodes[k] (or k when episodes is NULL), checked
 * against the cache, and (*mirrored)[k] = that episode's instruction with left and right swapped
 * (for mirrored samples). Both arrays are malloc'd; free with batch_episode_list_free. `who` names
 * the caller in errors. */
int batch_episode_list(const FrameCache *c, const int *episodes, int n, const char *who, int **eps, char ***mirrored);
void batch_episode_list_free(int *eps, char **mirrored, int n);

/* Shuffles n items of elem_size bytes in place (Fisher-Yates) with the RNG of (seed, epoch). */
void batch_shuffle(void *items, long n, size_t elem_size, uint64_t seed, int epoch);
uint64_t batch_seed_mix(uint64_t seed, uint64_t epoch, uint64_t pos);
/* pixel byte -> (v / 255 - mean[c]) / std[c], per channel. */
void batch_pixel_lut(const float mean[3], const float std[3], float lut[3][256]);
/* Cache frame t of episode ci, augmented with d (noise stream frame_index; scratch: one w x h x 3 frame)
 * and normalised through lut, into dst [3, h, w]. */
int batch_load_frame(const FrameCache *c, int ci, int t, const AugmentDraw *d, int frame_index, uint8_t *scratch,
                     const float lut[3][256], float *dst);
/* The K targets of frame t (actions t..t+K-1, mirrored when asked) and their mask (0 past the end,
 * with zero actions). */
void batch_targets(const CacheEpisode *ep, int t, int K, int mirror, float *act, float *mask);

#endif
