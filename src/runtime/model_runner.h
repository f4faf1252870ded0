/* Steps an opened model file (runtime/model_file.h) or a training checkpoint (models/policy_model.h)
 * frame by frame, whatever it holds: a CLIP head, one student policy, or an ensemble of students. An
 * ensemble steps every member on the same preprocessed frame (each with its own runner: window,
 * history, temporal ensembling) and returns the mean of the members' actions, and of their chunks, in
 * raw units. A file with mirror averaging (model_file.h) also steps every member, with a runner of its
 * own, on the frame flipped left-right with left and right swapped in its instruction, and averages
 * those actions mirrored back with the rest. This is the one place that averaging lives:
 * the C API (api.c), the runtime Policy (model_policy.c) and `mvla eval` on a model file all step
 * through it.
 *
 *   ModelRunner *r = model_runner_new(&mf);
 *   model_runner_set_instruction(r, text);  model_runner_step_rgb(r, rgb, action, chunk);  ...
 *   model_runner_free(r);
 *
 * With several threads (base/threads.h) the runs (members, and their mirrored twins) step in parallel,
 * one thread each; the mean is summed in a fixed order, so it does not depend on the thread count.
 * Steps allocate nothing of their own (each run's action and chunk slots are made by model_runner_new). */
#ifndef MVLA_RUNTIME_MODEL_RUNNER_H
#define MVLA_RUNTIME_MODEL_RUNNER_H

#include "models/policy_model.h"
#include "runtime/model_file.h"

#include <stdint.h>

typedef struct ModelRunner ModelRunner;

/* A runner over mf (which must outlive it). NULL on failure (message set). */
ModelRunner *model_runner_new(ModelFile *mf);
/* A runner over a training checkpoint's model (models/policy_model.h; it must outlive the runner). */
ModelRunner *model_runner_checkpoint(PolicyModel *pm);
void model_runner_free(ModelRunner *r);
/* Sets the instruction (NULL: none) of every member and starts a new episode. */
int model_runner_set_instruction(ModelRunner *r, const char *text);
void model_runner_reset(ModelRunner *r);
/* One preprocessed RGB frame (the model's input size) -> action[3] (raw units); chunk: NULL or K * 3
 * floats. An ensemble's are the members' means. */
int model_runner_step_rgb(ModelRunner *r, const uint8_t *rgb, float action[3], float *chunk);
int model_runner_chunk(const ModelRunner *r); /* K */
int model_runner_members(const ModelRunner *r);
/* The last step's head output (chunk x out_dim, normalised values or logits) of member i. */
const float *model_runner_output(const ModelRunner *r, int member);
/* Summed over the members (an ensemble costs each member's time; when they step in parallel, the sum is
 * scaled to the wall time they took together); steps counts the model's steps. */
void model_runner_timing(const ModelRunner *r, double *encode_s, double *head_s, long *steps);

#endif
