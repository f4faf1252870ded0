/* Training the student policy: config + split manifest + dataset -> a run folder.
 *
 * Run folder (out_dir):
 *   config.json                  the resolved training config (train_config.h); `--config` can reuse it
 *   run.json                     where the data came from (dataset, manifest and its hash, fold, cache),
 *                                set sizes, parameter count, model bytes, features, and the outcome
 *                                (status, epochs, steps, best epoch, best validation MAE); written when the
 *                                run starts ("running") and when it stops
 *   metrics.jsonl                one JSON object per line:
 *     {"type":"step","epoch":e,"step":s,"loss":..,"lr":..,"grad_norm":..,"timing":{...}}   every log_every steps
 *     {"type":"epoch","epoch":e,"step":s,"train_loss":..,"val_loss":..,"val_mae":..,"val_mae_axis":[x,y,z],
 *      "val_samples":n,"lr":..,"best":true|false,"best_val_mae":..,["sim_success":..,"best_sim_success":..,]
 *      "bad_epochs":k,"timing":{...}}     (sim_*: with train.select "sim")
 *     Everything outside "timing" is deterministic: the same seed and thread count give the same lines.
 *   checkpoints/last.safetensors parameters + AdamW state + trainer state (epoch, batch inside the epoch,
 *                                step, dropout RNG, early-stopping state, the length of metrics.jsonl), written
 *                                atomically after every epoch and when stopped by max_steps
 *   checkpoints/best.safetensors the model with the lowest validation MAE so far, or with train.select "sim"
 *                                the highest closed-loop success on the instructed side (sim_select.h; no
 *                                optimiser state: this is the model file that `mvla eval` and `mvla sim
 *                                eval --model` take)
 *   curves.svg                   train/val loss and validation MAE per epoch (redrawn every epoch)
 *   frames.cache                 the frame cache, unless cache_path puts it elsewhere (K-fold: out_dir's, shared)
 * Both checkpoints' metadata (nn/checkpoint.h "mvla.metadata") hold {"policy": config, "preprocess": {...},
 * "data": {...}, "provenance": {...}, "trainer": {...}} (see model_meta.h).
 *
 * Validation runs after every epoch in eval mode over every window of the validation episodes: val loss
 * (the training loss) and val MAE in raw units of the first predicted action (the one executed at that
 * frame). Early stopping: patience epochs without a val MAE lower than the best by more than min_delta
 * (train.select "sim": without a higher closed-loop success, or an equal one with a lower val MAE).
 * With no validation episodes there is no early stopping and the last epoch is the best.
 *
 * Resume (resume = 1): reads out_dir/config.json (the config options are then ignored, except the
 * step limit), loads last.safetensors, truncates metrics.jsonl to the length it had when that checkpoint
 * was written, and continues at the same batch of the same epoch with the same RNG state, so the result
 * equals the uninterrupted run's. max_steps > 0 stops after that many optimiser steps in total (as an
 * interruption would: the schedule is still the full run's) and writes last.safetensors.
 *
 * K-fold (folds = K): the manifest must be a K-fold one; fold k trains into out_dir/fold_k (a full run
 * folder each), then evaluates its best model on the manifest's test set (when it has one) into
 * fold_k/eval.json, and out_dir/folds.json gets every fold's val/test MAE with their mean and std. */
#ifndef MVLA_TRAINER_H
#define MVLA_TRAINER_H

#include "train/train_config.h"

typedef struct {
    int epoch, epochs;
    long step, total_steps;
    long batch, batches;    /* inside the epoch */
    float loss, lr;
    double steps_per_s;
    int fold;               /* -1 outside a K-fold run */
} TrainProgress;

typedef struct {
    int epoch;
    long step;
    double train_loss, val_loss, val_mae; /* NaN when there are no validation samples */
    double sim_success;                   /* train.select "sim": this epoch's success on the instructed side; else NaN */
    int best;                             /* this epoch's model is the new best */
    int fold;
} TrainEpochInfo;

typedef void (*TrainStepFn)(void *ctx, const TrainProgress *p);
typedef void (*TrainEpochFn)(void *ctx, const TrainEpochInfo *e);

typedef struct {
    const char *config_path;   /* JSON config, or NULL: the preset */
    const char *preset;        /* NULL: "student" (ignored with config_path) */
    const char *data_dir;      /* episode folder (resume: default from run.json) */
    const char *manifest;      /* split manifest (resume: default from run.json) */
    const char *cache_path;    /* NULL: out_dir/frames.cache */
    const char *backbone;      /* clip-* presets: the Hugging Face CLIP folder (train_clip.h) */
    const char *init;          /* --init: train.init, a student checkpoint to start from (NULL: the config's) */
    const char *out_dir;       /* the run folder */
    int fold;                  /* K-fold manifest: the fold to train (-1: holdout manifest) */
    int folds;                 /* > 0: train every fold of a K-fold manifest with that many folds */
    /* overrides of the config; negative: keep the config's value */
    int epochs, batch_size, patience;
    int select; /* --select: TRAIN_SELECT_VAL_MAE or TRAIN_SELECT_SIM */
    long steps; /* --steps: > 0 replaces the config's epochs by a step budget */
    double lr, weight_decay, warmup, clip;
    long long seed;
    int threads;               /* > 0: this many threads for the run (the previous count is restored after) */
    int resume;
    long max_steps;            /* > 0: stop after this many steps in total (as if interrupted) */
    TrainStepFn on_step;       /* progress callbacks (may be NULL) */
    TrainEpochFn on_epoch;
    void (*on_features)(void *ctx, long frames_done, long frames_total); /* clip-*: backbone features computed */
    void *cb_ctx;
} TrainOptions;

typedef enum { TRAIN_COMPLETE = 0, TRAIN_EARLY_STOPPED, TRAIN_INTERRUPTED } TrainStatus;

typedef struct {
    TrainStatus status;
    int epochs_run;            /* epochs finished */
    long steps;
    int best_epoch;            /* -1 if none */
    double best_val_mae;       /* NaN without validation */
    double best_sim_success;   /* train.select "sim": the best checkpoint's success on the instructed side; else NaN */
    double last_train_loss;
    double first_train_loss;   /* epoch 0's mean loss (NaN if not in this run's metrics) */
    /* K-fold runs: the folds' best val MAE and test MAE, mean and sample std (NaN where absent) */
    int folds;
    double val_mae_mean, val_mae_std, test_mae_mean, test_mae_std;
} TrainResult;

/* Every option unset: fold -1, overrides -1, nothing else. */
void train_options_default(TrainOptions *o);

/* The config the options describe (config file or preset, then the overrides); no files written. */
int train_resolve_config(const TrainOptions *o, TrainConfig *c);

/* Trains (see above). res may be NULL. */
int train_run(const TrainOptions *o, TrainResult *res);

const char *train_status_name(TrainStatus s); /* "complete", "early_stopped", "interrupted" */

#endif
