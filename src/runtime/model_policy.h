/* Any trained model behind the runtime's Policy vtable (runtime/policy.h), whatever its family and form:
 * a model file written by `mvla export` (the student's, or a CLIP head's with its embedded backbone), or
 * a training checkpoint (the student's, or a CLIP head's: its recorded backbone is
 * opened and must hash as recorded). `mvla sim eval --model` takes any of them.
 *
 * Each frame (any size, BGR or RGB) goes through the model's recorded frame preprocessing (resize/crop to
 * the model's input, RGB), then the family's own normalisation and network (models/policy_model.h). */
#ifndef MVLA_RUNTIME_MODEL_POLICY_H
#define MVLA_RUNTIME_MODEL_POLICY_H

#include "runtime/policy.h"

/* Opens path and wraps it; the Policy owns the model. Its name is the model's name. */
int model_policy_open(Policy *out, const char *path);

#endif
