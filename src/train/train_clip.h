/* The CLIP heads' side of `mvla train --preset clip-... --backbone FOLDER` (trainer.h drives it):
 * the backbone runs once over the frame cache (models/clip_features.h), then the head trains on the
 * stored features, so an epoch costs the head alone.
 *
 * Samples are windows like the student's window batching (data/batch.h): (variant, episode, t), the
 * W frames t-W+1..t (before the episode's first frame: padding, the head's learned pad), the instruction's
 * text embedding, and the next K actions (batch_targets). Training samples: every frame after the
 * first (train.skip_start: frame 0 is neither a sample nor history) of every training episode in every feature variant (the original and the
 * `copies` augmented copies: a mirrored copy has mirrored targets and the swapped instruction), shuffled
 * each epoch (seed, epoch) into batches of train.batch_size. Validation: the original frames of the
 * validation episodes, in order. Deterministic: no threads, no timing. */
#ifndef MVLA_TRAIN_CLIP_H
#define MVLA_TRAIN_CLIP_H

#include "data/cache.h"
#include "models/clip_policy.h"
#include "train/train_config.h"

#include <jansson.h>

typedef struct {
    int count;              /* windows */
    int window;             /* W */
    float *fused;           /* [count * W, fused_dim] clip_policy_fuse of each frame with its instruction */
    float *tokens;          /* [count * W, T, Dv], NULL without the resampler */
    float *frame_mask;      /* [count * W] 1 real frame, 0 before the episode start */
    int padded;             /* some frame_mask entry is 0 */
    float *actions;         /* [count, K, 3] raw targets */
    float *action_mask;     /* [count, K] */
} ClipBatch;

typedef struct ClipTrain ClipTrain;

typedef void (*ClipTrainProgressFn)(void *ctx, long frames_done, long frames_total);

/* `--backbone` into the config: a clip-* config needs one (given now or already recorded), a student
 * config refuses one; the backbone's shapes (config.json) are filled in. */
int clip_train_resolve(TrainConfig *c, const char *backbone);

/* Opens the backbone, builds or reuses the features of cache, makes the head (seed train.seed) and the
 * sample lists. The caller fits the action statistics (student_fit_action_stats on the head's `act`).
 * progress (may be NULL) reports feature computation. cache must outlive the result. */
int clip_train_new(ClipTrain **out, const TrainConfig *c, const FrameCache *cache, const int *train_idx, int n_train,
                   const int *val_idx, int n_val, ClipTrainProgressFn progress, void *ctx);
void clip_train_free(ClipTrain *t);

ClipPolicy *clip_train_policy(ClipTrain *t);
ParamList *clip_train_params(ClipTrain *t);
long clip_train_batches(const ClipTrain *t);  /* per training epoch */
int clip_train_has_val(const ClipTrain *t);
const char *clip_train_features_path(const ClipTrain *t);

int clip_train_start(ClipTrain *t, int val, int epoch);
/* The next batch (valid until the next call), or *out = NULL at the end of the epoch. */
int clip_train_next(ClipTrain *t, int val, const ClipBatch **out);
/* [count, K, out_dim], the head's output for the batch. */
Tensor *clip_train_forward(ClipTrain *t, Graph *g, const ClipBatch *b, int training, Rng *rng);

/* The checkpoint metadata (malloc'd text): clip_policy_metadata with the backbone, plus the trainer's
 * common keys (train/model_meta.h: preprocess, data, provenance, trainer). */
char *clip_train_metadata(ClipTrain *t, const TrainConfig *c, json_t *provenance, json_t *trainer);

#endif
