/* The deployable model file: one .safetensors holding a trained policy's weights and, under the
 * __metadata__ key "mvla.model", everything needed to run it (nothing else is read):
 *
 *   {"format_version": 1,
 *    "architecture": <the policy config, models/policy_config.h>,
 *    "preprocessing": {"channels": "RGB", "width", "height", "crop", "filter", "pixel_mean", "pixel_std"},
 *    "action": {"names": ["linear_x","linear_y","angular_z"], "units": ["m/s","m/s","rad/s"],
 *               "limits": [3], "kind", "chunk", "keys": "<vocabulary>", "key_value", "mean": [3], "scale": [3]},
 *    "instruction": {"default": text, "language": "en"|"ko"},
 *    "quantization": "none"    (or the int8 description of `mvla quantize`: runtime/model_quant.h),
 *    "batchnorm": "unfolded"   (the weights are stored as trained; model_open folds them),
 *    "provenance": <the checkpoint's provenance object, plus "metrics" when the checkpoint has them>}
 *
 * Weights are the policy's parameter list under the checkpoint names (models/policy.h), fp32, without
 * optimiser state. Opening refuses a file whose format_version is newer than MODEL_FORMAT_VERSION,
 * and one whose metadata keys or tensors are missing or malformed, naming what is wrong.
 *
 * Ensembles (`mvla export A B ...`, 2..MODEL_MAX_MEMBERS student checkpoints of one architecture):
 * the same file with "members": N in "mvla.model" (absent: 1, a single policy as above), and member
 * i's whole parameter list, out.action_mean / out.action_scale included, under "members.<i>." + the
 * parameter name ("members.1.encoder.stem.weight"). "architecture", "preprocessing", "action" and
 * "instruction" are the first member's (every member has the same, but for the architecture's name
 * and action.mean / scale: the tensors are what runs); "provenance" is the first member's plus
 * "members": [{"checkpoint": path, "train_digest": ...}, ...], one per member in order, with that
 * member's "train_episodes" too when its digest differs from the first member's. Running an ensemble
 * steps every member on the same preprocessed frame, each with its own history, and returns the mean
 * of their actions and chunks in raw units (runtime/model_runner.h). An int8 ensemble lists every
 * member's quantised tensors, prefixed, in quantization.tensors / weight_only.
 *
 * Mirror averaging (`mvla export --mirror`, `mvla ensemble --mirror`; students only): "mirror": true
 * in "mvla.model" (absent: false). Every member also steps on the horizontally flipped frame with left
 * and right swapped in its instruction (its own runner and history), and that action, mirrored back
 * (linear_y and angular_z negated), joins the mean: the task is left-right symmetric and the students
 * are trained with mirrored samples, so this averages out some of a policy's noise at twice the
 * step's cost. */
#ifndef MVLA_MODEL_FILE_H
#define MVLA_MODEL_FILE_H

#include "data/preprocess.h"
#include "models/clip_policy.h"
#include "models/policy.h"

#define MODEL_FORMAT_VERSION 1
#define MODEL_META_KEY "mvla.model"
#define MODEL_MAX_MEMBERS 8

typedef struct {
    StudentPolicy policy;     /* batch norm folded (eval only); unused (zero) in a CLIP head's file; an
                                 ensemble's member 0 */
    int n_members;            /* 1, or an ensemble's 2..MODEL_MAX_MEMBERS student policies */
    int mirror;               /* 1: each member also steps on the mirrored frame (above) */
    StudentPolicy *more;      /* an ensemble's members 1..n_members-1 (model_file_member), else NULL */
    ClipPolicy *clip;         /* a CLIP head with its embedded backbone (runtime/clip_model_file.h), else NULL */
    Preprocess pre;
    float limits[3];          /* |action| bounds per axis, raw units */
    char *instruction;        /* default instruction ("" when none) */
    char lang[8];
} ModelFile;

/* Reads a training checkpoint (student_save / `mvla train`) and writes the model file atomically.
 * A CLIP head's checkpoint gives a CLIP model file (runtime/clip_model_file.h); model_open opens both. */
int model_export(const char *checkpoint_path, const char *out_path);
/* One checkpoint: model_export. 2..MODEL_MAX_MEMBERS: an ensemble file of student checkpoints that
 * share architecture (but for the name), preprocessing and action section; anything else is refused
 * naming both files and the field, and nothing is written. mirror: write "mirror": true (student
 * checkpoints only). */
int model_export_ensemble(const char *const *checkpoint_paths, int n, const char *out_path, int mirror);

/* 1 when path opens as a model file (it has "mvla.model" metadata); 0 for a training checkpoint and for
 * a file that does not open (its loader then says why; no error is left set here). */
int model_file_is(const char *path);

/* Opens a model file: checks the metadata, builds the policy, loads and folds the weights. */
int model_open(ModelFile *m, const char *path);
void model_file_free(ModelFile *m);

/* Member i (0..n_members-1) of a student model file. */
static inline StudentPolicy *model_file_member(ModelFile *m, int i) { return i == 0 ? &m->policy : &m->more[i - 1]; }

#endif
