/* The frame preprocessing a student model records in its metadata ("preprocess": size, crop, filter;
 * channels RGB), which the runtime applies to every camera frame exactly as the frame cache prepared
 * the training frames: resize/crop (data/preprocess.h) -> RGB bytes -> the policy's pixel normalisation.
 * (Model files run through runtime/model_policy.h or the C API.) */
#ifndef MVLA_MODEL_PREPROCESS_H
#define MVLA_MODEL_PREPROCESS_H

#include "data/preprocess.h"
#include "models/policy.h"

/* The preprocessing recorded in a model's metadata JSON ("preprocess" object); when absent, stretch +
 * area at the policy's input size. Fails when the recorded size differs from the policy's input. */
int student_model_preprocess(const char *metadata_json, const StudentConfig *c, Preprocess *out,
                             const char *source_name);

#endif
