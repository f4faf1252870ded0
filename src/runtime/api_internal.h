/* The C API's handle seen from inside the library (bench, dumps, tests); not part of include/mvla.h.
 * The pointers belong to the handle and stay valid until mvla_close. */
#ifndef MVLA_API_INTERNAL_H
#define MVLA_API_INTERNAL_H

#include "runtime/model_file.h"

#include <mvla.h>
#include <stdint.h>

/* The opened model file (policy, preprocessing, limits, default instruction). */
const ModelFile *mvla_internal_model_file(const mvla_model *m);
/* The last step's model input: RGB bytes, pre.width x pre.height x 3, after resize and channel order. */
const uint8_t *mvla_internal_input(const mvla_model *m);
/* The last step's head output: chunk x out_dim floats (normalised values, or logits when discrete);
 * an ensemble's first member's. */
const float *mvla_internal_output(const mvla_model *m);

#endif
