/* Offline evaluation of a trained student policy on a split's episodes (or every episode of a folder).
 *
 * Each episode is replayed frame by frame through a StudentRunner (or a CLIP head's runner, running its
 * backbone on every frame: models/policy_model.h) from the frame cache, exactly as the runtime would run
 * it (window of past frames, temporal ensembling when the model has it): the action predicted at frame t
 * is compared with the recorded action at t. When the model was trained with skip_start the replay
 * starts at frame 1: frame 0 (the zero "episode_start" record) is neither scored nor history. Metrics
 * (metrics.h) overall, per scenario ("1box_vert_left", ...) and per side, in raw units.
 *
 * The instruction test replays every episode a second time with left and right swapped in its
 * instruction (English left<->right, Korean 왼쪽<->오른쪽) and compares the predicted lateral direction
 * (metrics.h, InstrTestAccum).
 *
 * Leakage checks: the manifest is loaded with split_load (refuses overlapping sets and changed files),
 * and any evaluated episode whose content hash is among the model's training episodes (model_meta.h)
 * is refused, unless the split asked for is "train".
 *
 * The model is a training checkpoint or a model file (runtime/model_file.h: `mvla export`, one policy
 * or an ensemble, fp32 or int8). A model file has no run folder: the frame cache defaults to MODEL
 * minus ".safetensors" + ".frames.cache" (".eval_frames.cache" without a manifest); its provenance's
 * training episodes (an ensemble's: every member's) drive the leakage check, which is skipped when it
 * names none; skip_start is taken as the trainer's default (frame 0 not scored) and the instruction
 * mapping file is not recorded (give --instructions). An ensemble is scored on the members' mean
 * action, exactly as it steps at run time (runtime/model_runner.h). */
#ifndef MVLA_EVALUATE_H
#define MVLA_EVALUATE_H

#include "train/metrics.h"

#include <jansson.h>

typedef void (*EvalProgressFn)(void *ctx, int episodes_done, int episodes_total);

typedef struct {
    const char *checkpoint;   /* training checkpoint or model file */
    const char *data_dir;     /* episode folder */
    const char *manifest;     /* split manifest, or NULL: every usable episode of data_dir */
    const char *split;        /* "test" (default), "val" or "train" (with a manifest) */
    int fold;                 /* K-fold manifest: the fold (-1: holdout; default -1, or the model's fold) */
    const char *cache_path;   /* NULL: with a manifest, the training run's cache (RUN/run.json "cache") if it
                                 exists, else RUN/frames.cache; without, RUN/eval_frames.cache (RUN: eval_run_dir) */
    const char *lang;         /* instruction resolution; NULL: the model's */
    const char *instructions;
    const char *instruction;
    int instruction_test;     /* 1 (default): run the swapped-instruction pass */
    const char *frames_csv;   /* NULL, or a CSV written here: one row per scored frame (episode file, frame,
                                 target and predicted key and action, the swapped instruction's linear_y) */
    EvalProgressFn progress;
    void *ctx;
} EvalOptions;

void eval_options_default(EvalOptions *o);

typedef struct {
    char name[40];
    long episodes;
    ActionMetrics m;
    InstrTestResult it;
} EvalGroup;

typedef struct {
    char *checkpoint, *model_name, *data_dir, *manifest, *split;
    int fold;
    long episodes, frames;        /* frames scored */
    ActionMetrics overall;
    InstrTestResult instr;        /* frames = 0 when the test did not run */
    int n_scenarios, n_sides, n_kinds;
    EvalGroup *scenarios, *sides, *kinds; /* sorted by name; kinds: "core" / "variant" from the file names */
    long parameters;          /* every member's, for an ensemble */
    int members;              /* an ensemble's size, else 1 */
    double seconds;
} EvalReport;

int eval_run(const EvalOptions *o, EvalReport *r);
void eval_report_free(EvalReport *r);
json_t *eval_report_json(const EvalReport *r);
/* Writes the JSON atomically. */
int eval_report_write_json(const EvalReport *r, const char *path);
/* A plain-text table of the report (malloc'd). */
char *eval_report_table(const EvalReport *r);

/* The run folder of a checkpoint ".../RUN/checkpoints/NAME.safetensors" -> ".../RUN" into buf; else the
 * checkpoint's directory. */
void eval_run_dir(const char *checkpoint, char *buf, size_t n);
/* A model file's sibling path: model minus ".safetensors" (when it ends so) + suffix, into buf. */
void eval_model_file_sibling(const char *model, const char *suffix, char *buf, size_t n);

#endif
