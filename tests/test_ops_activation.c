#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_activation.h"

#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* In test_ops_elementwise.c. */

typedef Tensor *(*UnaryOp)(Graph *, Tensor *);

static const struct {
    const char *name;
    UnaryOp fn;
    int n_kinks;
    float kinks[2];
} acts[] = {
    {"relu", op_relu, 1, {0}},
    {"gelu", op_gelu, 0, {0}},
    {"gelu_tanh", op_gelu_tanh, 0, {0}},
    {"quick_gelu", op_quick_gelu, 0, {0}},
    {"hardsigmoid", op_hardsigmoid, 2, {-3, 3}},
    {"hardswish", op_hardswish, 2, {-3, 3}},
    {"sigmoid", op_sigmoid, 0, {0}},
    {"tanh", op_tanh, 0, {0}},
    {"silu", op_silu, 0, {0}},
};
#define N_ACTS ((int)(sizeof acts / sizeof acts[0]))

static Tensor *build_act(Graph *g, Tensor **in, void *ctx)
{
    return acts[*(int *)ctx].fn(g, in[0]);
}

/* x ~ N(0, 2.5^2) covers the flat parts of the hard-* functions and the saturation of sigmoid/tanh. */
static Tensor *act_input(unsigned seed, int ndim, const int *shape, int k)
{
    Tensor *x = gc_input(seed, ndim, shape);
    for (long i = 0; i < x->numel; i++) x->data[i] *= 2.5f;
    push_away_from_kinks(x, acts[k].kinks, acts[k].n_kinks, 0.05f);
    return x;
}

TEST(activation_gradcheck)
{
    for (int k = 0; k < N_ACTS; k++) {
        Tensor *x = act_input(100 + k, 3, (int[]){3, 5, 4}, k);
        gradcheck(acts[k].name, build_act, &x, 1, &k, &(GradcheckOpts){.eps = 1e-2, .max_elems = 60});
        tensor_free(x);
    }
}

/* More elements than one thread's share: chunked, threaded loops must agree with small calls. */
TEST(activation_large_matches_small)
{
    int shape[2] = {40, 1000};
    for (int k = 0; k < N_ACTS; k++) {
        Tensor *x = act_input(200 + k, 2, shape, k);
        Graph *g = graph_new();
        Tensor *y = acts[k].fn(g, x);
        REQUIRE(y);
        long wrong = 0;
        Tensor *row = tensor_new_shape(1, 1000);
        for (int r = 0; r < 40; r += 7) {
            memcpy(row->data, x->data + r * 1000L, 1000 * sizeof(float));
            Tensor *yr = acts[k].fn(g, row);
            REQUIRE(yr);
            for (int i = 0; i < 1000; i++) wrong += yr->data[i] != y->data[r * 1000L + i];
        }
        CHECK_MSG(wrong == 0, "%s: %ld elements differ", acts[k].name, wrong);
        graph_free(g);
        gradcheck(acts[k].name, build_act, &x, 1, &k, &(GradcheckOpts){.max_elems = 12});
        tensor_free(row);
        tensor_free(x);
    }
}

/* The reference input holds random values and the kinks themselves (0, +-3), whose gradient
 * conventions must match PyTorch's. */
TEST(activation_matches_pytorch)
{
    const char *x[] = {"x"};
    for (int k = 0; k < N_ACTS; k++) {
        int kk = k;
        ref_check_op("pointwise.safetensors", acts[k].name, x, 1, build_act, &kk, 1e-6, 1e-5, 1);
    }
}

TEST(activation_values)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(1, 5);
    const float v[5] = {-4, -1, 0, 1, 4};
    memcpy(x->data, v, sizeof v);
    Tensor *relu = op_relu(g, x), *hs = op_hardsigmoid(g, x), *hw = op_hardswish(g, x), *sg = op_sigmoid(g, x);
    REQUIRE(relu && hs && hw && sg);
    for (int i = 0; i < 5; i++) {
        CHECK(relu->data[i] == (v[i] > 0 ? v[i] : 0));
        CHECK_NEAR(hs->data[i], fmin(fmax(v[i] + 3, 0), 6) / 6, 1e-7);
        CHECK_NEAR(hw->data[i], v[i] * fmin(fmax(v[i] + 3, 0), 6) / 6, 1e-6);
        CHECK_NEAR(sg->data[i], 1 / (1 + exp(-v[i])), 1e-7);
    }
    /* no overflow at the extremes */
    x->data[0] = -100, x->data[4] = 100;
    Tensor *s = op_sigmoid(g, x), *si = op_silu(g, x), *q = op_quick_gelu(g, x), *ge = op_gelu(g, x);
    REQUIRE(s && si && q && ge);
    CHECK(s->data[0] >= 0 && s->data[0] < 1e-30 && s->data[4] == 1);
    CHECK(si->data[0] > -1e-30 && si->data[4] == 100 && q->data[4] == 100 && ge->data[4] == 100);
    CHECK(ge->data[0] == 0);
    graph_free(g);
    tensor_free(x);
}

TEST(activation_no_grad_and_null)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(300, 2, (int[]){2, 3});
    graph_set_grad(g, 0);
    for (int k = 0; k < N_ACTS; k++) {
        Tensor *y = acts[k].fn(g, x);
        CHECK(y && !y->requires_grad);
    }
    CHECK(graph_tape_len(g) == 0);
    graph_set_grad(g, 1);
    Tensor *y = op_gelu(g, op_relu(g, x));
    CHECK(y && y->requires_grad && graph_tape_len(g) == 2);
    for (int k = 0; k < N_ACTS; k++) CHECK(acts[k].fn(g, NULL) == NULL);
    /* an empty tensor is fine */
    Tensor *e = tensor_new_shape(2, 0, 4);
    y = op_silu(g, e);
    CHECK(y && y->numel == 0 && y->ndim == 2);
    graph_free(g);
    tensor_free(x), tensor_free(e);
}

/* quick_gelu's vectorised exponential against double precision over the whole float range: within 4e-7
 * relative (a few ulp) where the result is above 1e-30 in size, within 1e-30 absolute in the far negative
 * tail (where x * sigmoid(1.702 x) underflows), finite for every finite input, NaN kept. */
TEST(activation_quick_gelu_accuracy)
{
    enum { N = 20001 };
    Graph *g = graph_new();
    Tensor *x = graph_tensor(g, 1, (int[]){N});
    REQUIRE(x != NULL);
    for (int i = 0; i < N; i++) x->data[i] = -100.0f + 200.0f * (float)i / (N - 1);
    x->data[0] = -1e30f, x->data[1] = 1e30f, x->data[2] = 1e-30f, x->data[3] = NAN;
    Tensor *y = op_quick_gelu(g, x);
    REQUIRE(y != NULL);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        float z = -1.702f * x->data[i]; /* the float argument: its own rounding is float arithmetic's, not exp's */
        double v = x->data[i], want = v / (1.0 + exp((double)z));
        if (i == 3) {
            CHECK(isnan(y->data[i]));
            continue;
        }
        CHECK_MSG(isfinite(y->data[i]), "quick_gelu(%g) = %g", v, (double)y->data[i]);
        double err = fabs(y->data[i] - want);
        if (fabs(want) > 1e-30) err /= fabs(want);
        else CHECK_MSG(err < 1e-30, "quick_gelu(%g) = %g, want %g", v, (double)y->data[i], want);
        if (fabs(want) > 1e-30 && err > worst) worst = err;
    }
    CHECK_MSG(worst < 4e-7, "quick_gelu: largest relative error %g", worst);
    graph_free(g);
}
