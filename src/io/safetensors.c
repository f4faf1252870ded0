/* TEMPORARY STUB: being replaced by the real reader/writer. Every call fails. */
#include "io/safetensors.h"

#include "base/error.h"

int st_open(SafeTensors **out, const char *path) { *out = NULL; return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: safetensors reader not written yet", path); }
void st_close(SafeTensors *st) { (void)st; }
Tensor *st_load_new(const SafeTensors *st, const char *name) { (void)st; (void)name; mvla_fail(MVLA_ERR_UNSUPPORTED, "stub"); return NULL; }
