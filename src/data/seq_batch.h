/* Training batches of episode sequences: every frame encoded once per epoch.
 *
 * The window loader (batch.h) gives B windows of W frames per step, so each frame is encoded about W
 * times an epoch. This loader gives E segments of consecutive frames instead, for
 * student_forward_sequence, which encodes each frame once and predicts at every position.
 *
 * Segments: the loss positions of an episode are its frames t0..n-1 (t0 = 1 with skip_start: frame 0's
 * action is the zero "episode_start"); they are cut into ceil((n - t0) / max_len) segments of nearly
 * equal length (the first ones one longer). A segment starting at position s also holds the W-1 frames
 * before s (fewer at the episode's start; never frame 0 with skip_start) as context without a loss, so every position sees exactly
 * the window the window loader would give it (frames before the episode's start are padding in both).
 * Each epoch the segments of all chosen episodes are shuffled (seeded by seed and epoch) and cut into
 * batches of E. Each segment draws ONE augmentation (AugmentDraw) from a seed depending only on (seed,
 * epoch, position in the epoch) and applies it to all its frames (noise stream: the frame's index in the
 * segment), its actions and its instruction (mirror), as the window loader does per window; so a batch's
 * content never depends on threads or timing. With prefetch on, a background thread fills batch i+1
 * while the caller uses batch i (byte-identical to prefetch off).
 *
 * Tensors (persistent, owned by the loader, valid until the next seq_loader_next call), T = the
 * batch's longest segment in frames (context included); shorter segments are padded at the end:
 *   frames       [E, T, 3, H, Wd]  (pixel / 255 - mean[c]) / std[c]; zeros where padded
 *   frame_mask   [E, T]            1 real frame, 0 padding after the segment's end
 *   actions      [E*T, K, 3]       row e*T + j: targets of frame j of segment e (the next K actions,
 *                                  raw units, zeros past the episode's end, mirrored with the segment)
 *   action_mask  [E*T, K]          1 where the loss counts: a loss position and an action before the
 *                                  episode's end; 0 for context frames, padding and past the end
 * The last batch of an epoch may hold fewer segments (count < batch_size, unless drop_last). */
#ifndef MVLA_SEQ_BATCH_H
#define MVLA_SEQ_BATCH_H

#include "data/augment.h"
#include "data/cache.h"
#include "tensor/tensor.h"

#include <stdint.h>

typedef struct {
    int batch_size;        /* E segments per batch (default 2) */
    int max_len;           /* most loss positions per segment (default 24) */
    int window;            /* W: the policy's window; W-1 context frames per segment (default 4) */
    int chunk;             /* K target actions per position (default 1) */
    uint64_t seed;         /* shuffling and augmentation (default 0) */
    int shuffle;           /* 1: shuffle each epoch (default); 0: episode order, segments in time order */
    int drop_last;         /* 1: skip a final partial batch (default 0) */
    int skip_start;        /* 1: no loss at t = 0 (default 1) */
    int prefetch;          /* 1: background thread (default) */
    float mean[3], std[3]; /* per-channel normalisation of [0,1] pixels (default 0 and 1: none) */
    AugmentParams aug;     /* default: augment_off */
} SeqBatchOptions;

void seq_batch_options_default(SeqBatchOptions *o);

typedef struct {
    int count;               /* segments in this batch (<= batch_size) */
    int len;                 /* T */
    long positions;          /* loss positions in this batch (the windows it stands for) */
    Tensor *frames, *frame_mask, *actions, *action_mask;
    const char **instructions; /* count strings (mirrored segments get the swapped text) */
    int *episode;            /* count cache episode indices */
    int *start;              /* count: episode frame of the segment's first frame (context included) */
    int *first;              /* count: episode frame of its first loss position */
    int *frames_n;           /* count: real frames of the segment (context included) */
    int *mirrored;           /* count flags */
} SeqBatch;

typedef struct SeqLoader SeqLoader;

/* episodes: indices into the cache, or NULL for all of them. The cache must outlive the loader. */
int seq_loader_new(SeqLoader **out, const FrameCache *c, const int *episodes, int n_episodes, const SeqBatchOptions *o);
void seq_loader_free(SeqLoader *l);

/* Loss positions (windows) per epoch, segments per epoch, batches per epoch. */
long seq_loader_num_positions(const SeqLoader *l);
long seq_loader_num_segments(const SeqLoader *l);
long seq_loader_num_batches(const SeqLoader *l);

/* Starts epoch e (0, 1, ...): a fresh shuffle; with prefetch the first batch starts at once. */
int seq_loader_start_epoch(SeqLoader *l, int epoch);
/* The next batch of the epoch in *out, or *out = NULL when the epoch is over. */
int seq_loader_next(SeqLoader *l, const SeqBatch **out);

#endif
