/* Helpers for the model-file tests (test_runtime.c, test_ensemble.c). */
#ifndef MVLA_MODEL_TESTUTIL_H
#define MVLA_MODEL_TESTUTIL_H

/* Copies model file src to dst, dropping tensor `drop` (NULL: none) and replacing the "mvla.model"
 * metadata by meta (NULL: kept). 0 or the safetensors reader's / writer's code. */
int mt_rewrite(const char *src, const char *dst, const char *drop, const char *meta);

#endif
