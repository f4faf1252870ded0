/* The training run's configuration: one JSON object with three sections, every key optional.
 *
 *   {"preset": "student",          base preset the rest overrides ("student" or "tiny"; default "student")
 *    "policy": {...},              the student policy (src/models/policy_config.h)
 *    "train": {...},               optimisation (below)
 *    "data": {...}}                frames and instructions (below)
 *
 * The CLIP presets ("clip-mlp": Simple CLIP, MLP head on the current frame; "clip-lstm": CLIP with LSTM;
 * "clip-aug": clip-mlp on the frames plus 2 augmented copies (mirror with the instruction swapped, and
 * photometric jitter: train.augment) as extra feature variants, the seed's "CLIP Augmented";
 * "clip-resampler": Enhanced, resampler over the visual tokens + CLIP normalisation, LSTM head) train a
 * head on a frozen CLIP backbone instead of the student: their config has a "clip" section
 * (src/models/clip_policy.h; `mvla train --backbone FOLDER` fills clip.backbone and its shapes), frames
 * are cached at the backbone's image_size (data.crop "center_crop", data.filter "bicubic" in the presets),
 * batches are train.batch_size windows (train.batching, seq_* and, unless clip.copies > 0, train.augment
 * are not used), and "policy" carries only the name (policy.name mirrors clip.name).
 * The seed's "Original 72 episodes" is clip-mlp on their first 72 episodes (no preset of its own).
 *
 * train (defaults of the "student" preset in brackets):
 *   epochs            [120] 1..100000
 *   steps             [0] > 0: about this many optimiser steps instead (epochs = ceil(steps / batches per
 *                     epoch)), so data sets of different sizes train for the same budget; 0: use epochs
 *   batch_size        [8] 1..4096
 *   lr                [3e-3] peak learning rate, (0, 1]
 *   min_lr            [1e-6] where the decay ends, [0, lr]
 *   schedule          ["cosine"] "cosine", "linear" or "constant" (after the warmup)
 *   warmup            [0.03] linear warmup, as a fraction of the total steps, [0, 0.5]
 *   weight_decay      [1e-4] AdamW's decoupled decay for weights (never biases, norms, embeddings' pads)
 *   beta1, beta2, eps [0.9, 0.999, 1e-8] AdamW
 *   encoder_lr_scale  [1.0] learning-rate multiplier of the image encoder's parameters (group "encoder.")
 *   clip              [0.5] gradient-norm clip; 0: measure only
 *   patience          [15] early stopping: epochs without a lower validation MAE (with select "sim": without
 *                     a higher closed-loop success or a lower validation MAE); 0: off
 *   min_delta         [0.0] an improvement must lower the validation MAE by more than this
 *   ema               [0] decay of an exponential moving average of the weights (e.g. 0.99); when set, the
 *                     average is what each epoch validates, scores in the simulator and saves as best
 *                     (last.safetensors keeps the raw weights and the average, so resume is exact); 0: off
 *   select            ["val_mae"] what makes a checkpoint the best (and what patience waits for):
 *                     "val_mae", the lowest validation MAE; or "sim", the highest closed-loop success on the
 *                     instructed side in the built-in simulator, ties broken by validation MAE (student runs on `mvla sim generate`
 *                     data only; train/sim_select.h)
 *   select_rollouts   [4] sim: rollouts per scenario x side x distance cell (96 per epoch), 1..100
 *   select_from       [0.4] sim: the share of the epochs that pass before the simulator scores them, [0, 1):
 *                     an early epoch never drove best in any run we kept, and scoring is ~40% of an epoch;
 *                     patience waits until scoring starts
 *   select_seed       [101] sim: the rollouts' seed; keep the final `mvla sim eval --seed` different
 *   select_target     ["cup"] sim: "cup", "bottle", "basket" or "mixed", as in the training episodes
 *   seed              [0] initialisation, shuffling, augmentation, dropout (0..2^53)
 *   log_every         [10] steps between "step" lines of metrics.jsonl, 1..100000
 *   skip_start        [true] frame 0 (the zero "episode_start" record, a second view of the start pose) is
 *                     neither a sample nor history; training, eval and quantize see episodes from frame 1,
 *                     as the robot's runtime does (with frame 0 as history every decision came a step late)
 *   batching          ["sequence"] "sequence": each step trains on seq_batch segments of consecutive frames
 *                     (data/seq_batch.h), every frame encoded once, a loss at every position; "window": each
 *                     step trains on batch_size windows of W frames (data/batch.h), each frame encoded ~W times
 *   seq_len           [16] sequence batching: most positions per segment (longer episodes are cut), 1..4096
 *   seq_batch         [4] sequence batching: segments per step, 1..4096 (batch_size is the window mode's)
 *   augment           ["default"] "default", "off", or an object of AugmentParams fields over the defaults:
 *                     rotate_deg, scale_min, scale_max, translate, brightness, contrast, saturation, hue,
 *                     gamma, noise_std, blur_prob, blur_sigma, mirror_prob (src/data/augment.h)
 *   init              [""] transfer learning: a student checkpoint of `mvla train` (e.g. a run on more or other
 *                     episodes) whose weights the run starts from instead of fresh ones (`--init PATH`)
 *   init_parts        ["all"] "all": every weight, and the checkpoint's action normalisation (the output layer
 *                     was trained on it), so the policy must have its architecture; "encoder": only the image
 *                     encoder (with its batch-norm statistics), the rest fresh: the instruction encoder, fusion
 *                     and head may differ. Pairs with encoder_lr_scale (e.g. 0.1) to fine-tune it gently.
 *                     A resumed run continues from its own checkpoint and does not read init again. The
 *                     checkpoint's training episodes join the run's provenance, so `mvla eval` refuses them.
 * data:
 *   lang              ["en"] built-in instructions' language, "en" or "ko"
 *   instructions      [""] JSON instruction mapping file ("" none); see src/data/dataset.h
 *   instruction       [""] one instruction for every episode ("" none)
 *   crop              ["stretch"] "stretch", "center_crop" or "pad" (src/data/preprocess.h)
 *   filter            ["area"] "area" or "bicubic"
 * The frame size is the policy's encoder.input_width x input_height.
 *
 * Errors name the source and the key path: "run.json: train.lr: expected a number in (0, 1], got -1";
 * "run.json: train.lrr: unknown key (expected one of: ...)". */
#ifndef MVLA_TRAIN_CONFIG_H
#define MVLA_TRAIN_CONFIG_H

#include "data/augment.h"
#include "data/preprocess.h"
#include "models/clip_policy.h"
#include "models/policy_config.h"
#include "tensor/schedule.h"

#include <stdint.h>

enum { TRAIN_BATCH_SEQUENCE = 0, TRAIN_BATCH_WINDOW = 1 };
enum { TRAIN_SELECT_VAL_MAE = 0, TRAIN_SELECT_SIM = 1 };

typedef struct {
    int epochs, batch_size;
    long steps; /* > 0: train this many optimiser steps (epochs derived from it); 0: epochs */
    double lr, min_lr;
    LrScheduleKind schedule;
    double warmup;
    double weight_decay, beta1, beta2, eps, encoder_lr_scale;
    double clip;
    int patience;
    double min_delta;
    double ema;            /* decay of the weights' moving average that is validated and saved as best; 0: off */
    int select;            /* TRAIN_SELECT_VAL_MAE or TRAIN_SELECT_SIM */
    int select_rollouts;   /* sim selection: rollouts per scenario x side x distance cell */
    double select_from;    /* sim selection: share of the epochs not scored in the simulator */
    uint64_t select_seed;  /* sim selection: the rollouts' seed */
    int select_target;     /* sim selection: SimTarget, or -1 for mixed */
    uint64_t seed;
    int log_every;
    int skip_start;
    int batching;          /* TRAIN_BATCH_SEQUENCE or TRAIN_BATCH_WINDOW */
    int seq_len, seq_batch;
    int augment_on;        /* 0: "off" */
    AugmentParams augment; /* when augment_on */
    char init[512];        /* a checkpoint to start from ("" none) */
    int init_encoder_only; /* init_parts "encoder" */
} TrainSettings;

#define TRAIN_PATH_MAX 512
#define TRAIN_TEXT_MAX 512

typedef struct {
    char lang[8];
    char instructions[TRAIN_PATH_MAX];
    char instruction[TRAIN_TEXT_MAX];
    CropPolicy crop;
    ResizeFilter filter;
} DataSettings;

typedef struct {
    char preset[32];
    StudentConfig policy;
    TrainSettings train;
    DataSettings data;
    int is_clip;           /* the config has a "clip" section: a CLIP head (train/train_clip.h), not the student */
    ClipPolicyConfig clip;
} TrainConfig;

/* A named preset: "student" (the default policy, 30 epochs, augmentation on) or "tiny" (a very small
 * policy at 32x16 pixels for tests and smoke runs). MVLA_ERR_ARG naming the presets otherwise. */
int train_config_preset(TrainConfig *c, const char *name);
/* Parses JSON text over its "preset" (default "student"). source labels errors. */
int train_config_parse(TrainConfig *c, const char *json_text, const char *source);
int train_config_load(TrainConfig *c, const char *path);
/* The full config as indented JSON (malloc'd), which train_config_parse reads back to the same config. */
char *train_config_to_json(const TrainConfig *c);

/* The frame preprocessing the config implies (policy input size, data crop and filter). */
void train_config_preprocess(const TrainConfig *c, Preprocess *p);

/* One line for tables: "film lstm W6 K4 l1 aug". */
void train_config_features(const TrainConfig *c, char *buf, int n);

#endif
