#include "ref.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static SafeTensors *open_ref(const char *file)
{
    const char *dir = getenv("MVLA_REF_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/ref", file);
    SafeTensors *st = NULL;
    if (st_open(&st, path)) {
        test_fail(__FILE__, __LINE__, "reference file: %s", mvla_error_message());
        return NULL;
    }
    return st;
}

Tensor *ref_load(const char *file, const char *name)
{
    SafeTensors *st = open_ref(file);
    if (!st) return NULL;
    Tensor *t = st_load_new(st, name);
    if (!t) test_fail(__FILE__, __LINE__, "reference %s: %s", file, mvla_error_message());
    st_close(st);
    return t;
}

int ref_check(const char *file, const char *name, const float *data, long numel, double atol, double rtol)
{
    Tensor *ref = ref_load(file, name);
    if (!ref) return 0;
    int ok = 1;
    if (ref->numel != numel) {
        test_fail(__FILE__, __LINE__, "%s: %s has %ld elements, computed %ld", file, name, ref->numel, numel);
        ok = 0;
    }
    long worst = -1;
    double worst_excess = 0;
    for (long i = 0; ok && i < numel; i++) {
        double d = fabs((double)data[i] - ref->data[i]), allowed = atol + rtol * fabs(ref->data[i]);
        if (!(d <= allowed) && (worst < 0 || d - allowed > worst_excess)) worst = i, worst_excess = d - allowed;
    }
    if (worst >= 0) {
        test_fail(__FILE__, __LINE__, "%s: %s[%ld] = %.7g, computed %.7g (atol %g, rtol %g)", file, name, worst,
                  ref->data[worst], data[worst], atol, rtol);
        ok = 0;
    }
    tensor_free(ref);
    return ok;
}
