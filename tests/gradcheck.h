/* Finite-difference gradient checks.
 * The op under test is wrapped in a BuildFn that maps persistent inputs to an output.
 * The scalar checked is L = sum(out * R) for a fixed random R, accumulated in double, so
 * every output element's gradient path is exercised. For each input with requires_grad,
 * the analytic gradient (graph_backward seeded with R) is compared to central differences
 * (L(x+eps) - L(x-eps)) / 2eps on up to `max_elems` elements spread over the input. */
#ifndef MVLA_GRADCHECK_H
#define MVLA_GRADCHECK_H

#include "tensor/tensor.h"

typedef Tensor *(*BuildFn)(Graph *g, Tensor **in, void *ctx);

typedef struct {
    double eps;       /* default 1e-2 */
    double tol;       /* pass if |analytic - numeric| <= tol * (1 + |numeric|); default 1e-2 */
    int max_elems;    /* per input; default 48 */
} GradcheckOpts;

/* Returns 1 if every checked gradient matches; reports the worst mismatch through test_fail. */
int gradcheck(const char *label, BuildFn build, Tensor **in, int n_in, void *ctx, const GradcheckOpts *opts);

/* Convenience: a persistent tensor of the given shape, filled from N(0, 1) with seed, requires_grad set. */
Tensor *gc_input(unsigned seed, int ndim, const int *shape);

/* Moves every element of t closer than margin to one of the kinks k[0..nk) out to kink +- margin,
 * so finite differences with eps < margin never straddle a non-differentiable point. */
void push_away_from_kinks(Tensor *t, const float *kinks, int nk, float margin);

#endif
