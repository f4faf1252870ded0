/* Helpers for the model-file tests (see model_testutil.h). */
#include "model_testutil.h"

#include "io/safetensors.h"
#include "runtime/model_file.h"

#include <string.h>

int mt_rewrite(const char *src, const char *dst, const char *drop, const char *meta)
{
    SafeTensors *st;
    int rc = st_open(&st, src);
    if (rc) return rc;
    StWriter *w = st_writer_new();
    for (int i = 0; i < st_count(st) && !rc; i++) {
        const StTensor *t = st_at(st, i);
        if (!drop || strcmp(t->name, drop)) rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    if (!rc) rc = st_writer_set_metadata(w, MODEL_META_KEY, meta ? meta : st_metadata(st, MODEL_META_KEY));
    if (!rc) rc = st_writer_save(w, dst);
    st_writer_free(w);
    st_close(st);
    return rc;
}
