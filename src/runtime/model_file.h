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
 * and one whose metadata keys or tensors are missing or malformed, naming what is wrong. */
#ifndef MVLA_MODEL_FILE_H
#define MVLA_MODEL_FILE_H

#include "data/preprocess.h"
#include "models/clip_policy.h"
#include "models/policy.h"

#define MODEL_FORMAT_VERSION 1
#define MODEL_META_KEY "mvla.model"

typedef struct {
    StudentPolicy policy;     /* batch norm folded (eval only); unused (zero) in a CLIP head's file */
    ClipPolicy *clip;         /* a CLIP head with its embedded backbone (runtime/clip_model_file.h), else NULL */
    Preprocess pre;
    float limits[3];          /* |action| bounds per axis, raw units */
    char *instruction;        /* default instruction ("" when none) */
    char lang[8];
} ModelFile;

/* Reads a training checkpoint (student_save / `mvla train`) and writes the model file atomically.
 * A CLIP head's checkpoint gives a CLIP model file (runtime/clip_model_file.h); model_open opens both. */
int model_export(const char *checkpoint_path, const char *out_path);

/* Opens a model file: checks the metadata, builds the policy, loads and folds the weights. */
int model_open(ModelFile *m, const char *path);
void model_file_free(ModelFile *m);

#endif
