#include "ref.h"

#include "base/error.h"
#include "gradcheck.h"
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

/* Parity of one op with reference case `key` of tests/ref/<file>:
 * loads key.<name> for each input and sets requires_grad, runs build, compares the output with
 * key.y (shape and values), runs backward seeded with key.gy (seeded == 0: a scalar output seeded
 * with 1) and compares each input's gradient with key.g<name>. */
void ref_check_op(const char *file, const char *key, const char *const *names, int n_in, BuildFn build, void *ctx, double atol,
                  double rtol, int seeded)
{
    char nm[96];
    Tensor *in[8] = {0}, *gy = NULL, *ref_y = NULL;
    int ok = n_in <= 8;
    for (int i = 0; ok && i < n_in; i++) {
        snprintf(nm, sizeof nm, "%s.%s", key, names[i]);
        in[i] = ref_load(file, nm);
        ok = in[i] && tensor_requires_grad(in[i]) == 0;
    }
    if (ok && seeded) {
        snprintf(nm, sizeof nm, "%s.gy", key);
        ok = (gy = ref_load(file, nm)) != NULL;
    }
    snprintf(nm, sizeof nm, "%s.y", key);
    if (ok) ok = (ref_y = ref_load(file, nm)) != NULL;
    Graph *g = graph_new();
    Tensor *y = ok ? build(g, in, ctx) : NULL;
    if (ok && !y) test_fail(__FILE__, __LINE__, "%s: forward failed: %s", key, mvla_error_message());
    if (y) {
        char s1[64], s2[64];
        /* Files written before refgen.save() kept 0-d shapes store PyTorch's 0-d results as [1]. */
        int scalar = y->ndim == 0 && ref_y->ndim == 1 && ref_y->numel == 1;
        CHECK_MSG(scalar || tensor_same_shape(y, ref_y), "%s: output shape %s, PyTorch %s", key,
                  tensor_shape_str(y, s1, sizeof s1), tensor_shape_str(ref_y, s2, sizeof s2));
        ref_check(file, nm, y->data, y->numel, atol, rtol);
        if (seeded && gy->numel != y->numel)
            test_fail(__FILE__, __LINE__, "%s: upstream gradient has %ld elements, output %ld", key, gy->numel, y->numel);
        else if (graph_backward(g, y, seeded ? gy->data : NULL))
            test_fail(__FILE__, __LINE__, "%s: backward failed: %s", key, mvla_error_message());
        else
            for (int i = 0; i < n_in; i++) {
                snprintf(nm, sizeof nm, "%s.g%s", key, names[i]);
                ref_check(file, nm, in[i]->grad, in[i]->numel, atol, rtol);
            }
    }
    graph_free(g);
    for (int i = 0; i < n_in && i < 8; i++) tensor_free(in[i]);
    tensor_free(gy);
    tensor_free(ref_y);
}
