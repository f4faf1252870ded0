#include "gradcheck.h"

#include "base/error.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

Tensor *gc_input(unsigned seed, int ndim, const int *shape)
{
    Tensor *t = tensor_new(ndim, shape);
    if (!t) return NULL;
    Rng r;
    rng_seed(&r, seed);
    tensor_fill_normal(t, &r, 1.0f);
    tensor_requires_grad(t);
    return t;
}

/* L = sum(out * R), in double, with gradients off. */
static double loss_at(Graph *g, BuildFn build, Tensor **in, void *ctx, const float *R, long n_out)
{
    graph_reset(g);
    int prev = graph_set_grad(g, 0);
    Tensor *out = build(g, in, ctx);
    graph_set_grad(g, prev);
    if (!out || out->numel != n_out) return NAN;
    double L = 0;
    for (long i = 0; i < n_out; i++) L += (double)out->data[i] * R[i];
    return L;
}

int gradcheck(const char *label, BuildFn build, Tensor **in, int n_in, void *ctx, const GradcheckOpts *opts)
{
    double eps = opts && opts->eps > 0 ? opts->eps : 1e-2;
    double tol = opts && opts->tol > 0 ? opts->tol : 1e-2;
    int max_elems = opts && opts->max_elems > 0 ? opts->max_elems : 48;
    Graph *g = graph_new();
    for (int i = 0; i < n_in; i++)
        if (in[i]) tensor_zero_grad(in[i]);
    Tensor *out = build(g, in, ctx);
    if (!out) {
        test_fail(__FILE__, __LINE__, "%s: forward failed: %s", label, mvla_error_message());
        graph_free(g);
        return 0;
    }
    long n_out = out->numel;
    float *R = malloc((size_t)n_out * sizeof *R);
    Rng r;
    rng_seed(&r, 1234);
    rng_fill_normal(&r, R, n_out, 1.0f);
    if (graph_backward(g, out, R)) {
        test_fail(__FILE__, __LINE__, "%s: backward failed: %s", label, mvla_error_message());
        free(R);
        graph_free(g);
        return 0;
    }
    int ok = 1;
    for (int k = 0; k < n_in; k++) {
        Tensor *x = in[k];
        if (!x || !x->requires_grad) continue;
        long n = x->numel, step = n > max_elems ? (n + max_elems - 1) / max_elems : 1;
        double worst = 0, worst_a = 0, worst_n = 0;
        long worst_i = -1;
        for (long i = (n > max_elems ? (long)(k * 7 % step) : 0); i < n; i += step) {
            float saved = x->data[i];
            x->data[i] = (float)(saved + eps);
            double lp = loss_at(g, build, in, ctx, R, n_out);
            x->data[i] = (float)(saved - eps);
            double lm = loss_at(g, build, in, ctx, R, n_out);
            x->data[i] = saved;
            double numeric = (lp - lm) / (2 * eps), analytic = x->grad[i];
            double excess = fabs(analytic - numeric) / (1 + fabs(numeric));
            if (worst_i < 0 || (!isnan(worst) && !(excess <= worst)))
                worst = excess, worst_i = i, worst_a = analytic, worst_n = numeric;
        }
        if (!(worst <= tol)) {
            test_fail(__FILE__, __LINE__, "%s: input %d element %ld: analytic %.6g, numeric %.6g (rel err %.3g > %g)",
                      label, k, worst_i, worst_a, worst_n, worst, tol);
            ok = 0;
        }
    }
    free(R);
    graph_free(g);
    return ok;
}

/* Moves every element of t closer than margin to one of the kinks k[0..nk) out to kink +- margin,
 * so finite differences with eps < margin never straddle a kink. */
void push_away_from_kinks(Tensor *t, const float *kinks, int nk, float margin)
{
    for (long i = 0; i < t->numel; i++)
        for (int k = 0; k < nk; k++) {
            float d = t->data[i] - kinks[k];
            if (d > -margin && d < margin) t->data[i] = kinks[k] + (d < 0 ? -margin : margin);
        }
}
