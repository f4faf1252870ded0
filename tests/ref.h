/* Reference outputs for parity tests: tests/ref/<family>.safetensors, written by the committed
 * generator tests/ref/gen_<family>.py (PyTorch). Tests read them with mvla's own reader. */
#ifndef MVLA_TEST_REF_H
#define MVLA_TEST_REF_H

#include "gradcheck.h"

/* Loads tensor `name` of tests/ref/<file> as a new persistent tensor (fails the test and
 * returns NULL if absent). */
Tensor *ref_load(const char *file, const char *name);
/* Compares t with reference `name` (same numel); fails the test if any element differs by
 * more than atol + rtol*|ref|. Returns 1 if equal within tolerance. */
int ref_check(const char *file, const char *name, const float *data, long numel, double atol, double rtol);

/* Parity of one op with reference case `key` of tests/ref/<file>: loads key.<name> for each of
 * the n_in inputs (with requires_grad), runs build, compares the output with key.y, runs backward
 * seeded with key.gy (seeded == 0: a scalar output seeded with 1) and compares each input's
 * gradient with key.g<name>. Failures are reported through test_fail. */
void ref_check_op(const char *file, const char *key, const char *const *names, int n_in, BuildFn build, void *ctx,
                  double atol, double rtol, int seeded);

#endif
