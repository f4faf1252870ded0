/* libFuzzer target for the safetensors parser: any byte string must either open cleanly or fail
 * with a message, never crash, leak or read out of bounds. An input that opens is then walked:
 * every tensor found by name and converted to fp32, every metadata key looked up.
 * Build and run: scripts/fuzz.sh [seconds]. */
#include "base/error.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SafeTensors *st = NULL;
    if (st_open_memory(&st, data, size, "fuzz") != 0) {
        if (st != NULL || mvla_error_message()[0] == '\0') abort(); /* a failure must leave a message */
        return 0;
    }
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_at(st, i);
        if (!t || st_find(st, t->name) != t) abort();
        if (t->nbytes != (size_t)t->numel * (size_t)st_dtype_size(t->dtype)) abort();
        if (t->nbytes && ((const uint8_t *)t->data < data || (const uint8_t *)t->data + t->nbytes > data + size)) abort();
        float *f = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *f);
        if (f && st_to_f32(t, f) != 0) abort();
        free(f);
        Tensor *x = st_load_new(st, t->name); /* fails cleanly for > 5 dims */
        tensor_free(x);
        (void)st_offset_at(st, i);
        (void)st_file_at(st, i);
    }
    for (int i = 0; i < st_metadata_count(st); i++) {
        const char *k = st_metadata_key(st, i);
        if (!k || !st_metadata(st, k)) abort();
    }
    st_close(st);
    return 0;
}
