/* Any trained policy family behind one interface, for the jobs that run a model frame by frame
 * (offline evaluation, the runtime): the student (policy.h) or a head on a frozen CLIP backbone
 * (clip_policy.h). A checkpoint's metadata says which: "policy" (student) or "clip_policy".
 *
 *   PolicyModel m;  policy_model_load(&m, "run/checkpoints/best.safetensors");
 *   ModelRunner *r = model_runner_checkpoint(&m);   (runtime/model_runner.h steps it)
 *   ...  model_runner_free(r);  policy_model_free(&m); */
#ifndef MVLA_MODELS_POLICY_MODEL_H
#define MVLA_MODELS_POLICY_MODEL_H

#include "models/clip_policy.h"
#include "models/policy.h"

typedef struct {
    int is_clip;
    StudentPolicy student; /* !is_clip */
    ClipPolicy clip;       /* is_clip (with its backbone) */
} PolicyModel;

/* 1 when a checkpoint or model file's metadata JSON text describes a CLIP head. */
int policy_metadata_is_clip(const char *metadata_json);

/* Loads a training checkpoint of either family; a CLIP head also opens its recorded backbone and checks
 * its content hash. */
int policy_model_load(PolicyModel *m, const char *path);
void policy_model_free(PolicyModel *m);
/* The student's config, or the CLIP head's action shell's (name, input size R x R, action section):
 * what model_meta_parse and the metrics read. */
const StudentConfig *policy_model_config(const PolicyModel *m);
long policy_model_param_count(const PolicyModel *m);

#endif
