/* Reference outputs for parity tests: tests/ref/<family>.safetensors, written by the committed
 * generator tests/ref/gen_<family>.py (PyTorch). Tests read them with mvla's own reader. */
#ifndef MVLA_TEST_REF_H
#define MVLA_TEST_REF_H

#include "tensor/tensor.h"

/* Loads tensor `name` of tests/ref/<file> as a new persistent tensor (fails the test and
 * returns NULL if absent). */
Tensor *ref_load(const char *file, const char *name);
/* Compares t with reference `name` (same numel); fails the test if any element differs by
 * more than atol + rtol*|ref|. Returns 1 if equal within tolerance. */
int ref_check(const char *file, const char *name, const float *data, long numel, double atol, double rtol);

#endif
