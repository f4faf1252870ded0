/* A trained student policy behind the runtime's Policy vtable (runtime/policy.h), so `mvla sim eval`
 * and the robot runtime drive a model file like any other policy:
 *
 *   Policy p;
 *   student_policy_open(&p, "run/checkpoints/best.safetensors");
 *   policy_reset(&p, instruction);  policy_step(&p, frame, w, h, POLICY_BGR, action);  policy_destroy(&p);
 *
 * Each frame (any size, BGR or RGB) goes through the model's own preprocessing, read from the model
 * file's metadata ("preprocess": size, crop, filter; channels RGB), exactly as the frame cache prepared
 * the training frames: resize/crop (data/preprocess.h) -> RGB bytes -> the policy's pixel normalisation.
 * Steps run through a StudentRunner (one encoder pass per frame, temporal ensembling when configured). */
#ifndef MVLA_STUDENT_ADAPTER_H
#define MVLA_STUDENT_ADAPTER_H

#include "data/preprocess.h"
#include "models/policy.h"
#include "runtime/policy.h"

/* Loads a model file (a checkpoint written by `mvla train`) and wraps it; the Policy owns the model.
 * Its name is the policy config's name. */
int student_policy_open(Policy *out, const char *model_path);

/* Wraps an already loaded policy that the caller keeps (it must outlive the Policy). pre: the frame
 * preprocessing (NULL: stretch + area at the policy's input size). */
int student_policy_wrap(Policy *out, StudentPolicy *p, const Preprocess *pre);

/* The preprocessing recorded in a model's metadata JSON ("preprocess" object); when absent, stretch +
 * area at the policy's input size. Fails when the recorded size differs from the policy's input. */
int student_model_preprocess(const char *metadata_json, const StudentConfig *c, Preprocess *out,
                             const char *source_name);

#endif
