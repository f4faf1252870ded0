/* Any trained policy family behind one interface, for the jobs that run a model frame by frame
 * (offline evaluation, model files, the runtime): the student (policy.h) or a head on a frozen CLIP
 * backbone (clip_policy.h). A checkpoint's metadata says which: "policy" (student) or "clip_policy".
 *
 *   PolicyModel m;  policy_model_load(&m, "run/checkpoints/best.safetensors");
 *   PolicyRunner *r = policy_runner_new(&m);
 *   policy_runner_set_instruction(r, text);  policy_runner_step_rgb(r, rgb, action, NULL);  ...
 *   policy_runner_free(r);  policy_model_free(&m);
 *
 * Frames given to step_rgb are the frame preprocessing's output (data/preprocess.h: the model's input
 * size, RGB); each family applies its own pixel normalisation. */
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

typedef struct PolicyRunner PolicyRunner;

/* A runner over m, or over one family's model (which must outlive it). NULL on failure (message set). */
PolicyRunner *policy_runner_new(PolicyModel *m);
PolicyRunner *policy_runner_student(StudentPolicy *p);
PolicyRunner *policy_runner_clip(ClipPolicy *p);
void policy_runner_free(PolicyRunner *r);
/* Sets the instruction (NULL: none) and starts a new episode. */
int policy_runner_set_instruction(PolicyRunner *r, const char *text);
void policy_runner_reset(PolicyRunner *r);
/* One preprocessed RGB frame -> action[3] (raw units); chunk: NULL or K*3 floats. */
int policy_runner_step_rgb(PolicyRunner *r, const uint8_t *rgb, float action[3], float *chunk);
int policy_runner_chunk(const PolicyRunner *r); /* K */

#endif
