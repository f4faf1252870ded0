#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_softmax.h"

#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In test_ops_elementwise.c. */

static Tensor *build_softmax(Graph *g, Tensor **in, void *ctx)
{
    return *(int *)ctx ? op_log_softmax(g, in[0]) : op_softmax(g, in[0]);
}

TEST(softmax_gradcheck)
{
    Tensor *x = gc_input(1, 3, (int[]){2, 3, 5}), *v = gc_input(2, 1, (int[]){7});
    Tensor *big = gc_input(3, 2, (int[]){400, 100});   /* threaded rows */
    for (int log_y = 0; log_y < 2; log_y++) {
        const char *name = log_y ? "log_softmax" : "softmax";
        gradcheck(name, build_softmax, &x, 1, &log_y, NULL);
        gradcheck(name, build_softmax, &v, 1, &log_y, NULL);
        gradcheck(name, build_softmax, &big, 1, &log_y, NULL);
    }
    tensor_free(x), tensor_free(v), tensor_free(big);
}

/* The reference input has rows shifted by +-1000: a naive exp() would overflow. */
TEST(softmax_matches_pytorch)
{
    const char *x[] = {"x"};
    int log_y = 0;
    ref_check_op("pointwise.safetensors", "softmax", x, 1, build_softmax, &log_y, 1e-6, 1e-5, 1);
    log_y = 1;
    ref_check_op("pointwise.safetensors", "log_softmax", x, 1, build_softmax, &log_y, 1e-5, 1e-5, 1);
}

TEST(softmax_rows_sum_to_one)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(4, 2, (int[]){300, 200});
    for (long i = 0; i < x->numel; i++) x->data[i] *= (i % 3 == 0) ? 500.0f : 5.0f;
    Tensor *y = op_softmax(g, x), *ly = op_log_softmax(g, x);
    REQUIRE(y && ly);
    double worst = 0;
    long nonfinite = 0;
    for (int r = 0; r < 300; r++) {
        double s = 0, se = 0;
        for (int c = 0; c < 200; c++) {
            float p = y->data[r * 200 + c], lp = ly->data[r * 200 + c];
            nonfinite += !isfinite(p) || !isfinite(lp) || lp > 0;
            s += p;
            se += exp(lp);
        }
        worst = fmax(worst, fmax(fabs(s - 1), fabs(se - 1)));
    }
    CHECK(nonfinite == 0);
    CHECK(worst < 1e-5);
    graph_free(g);
    tensor_free(x);
}

TEST(softmax_rejects_bad_input)
{
    Graph *g = graph_new();
    Tensor *s = tensor_new(0, NULL);
    CHECK(op_softmax(g, s) == NULL);
    CHECK(strstr(mvla_error_message(), "softmax: input is 0-dimensional") != NULL);
    CHECK(op_log_softmax(g, s) == NULL);
    CHECK(op_softmax(g, NULL) == NULL && op_log_softmax(g, NULL) == NULL);
    Tensor *e = tensor_new_shape(2, 3, 0);
    Tensor *y = op_softmax(g, e);
    CHECK(y && y->numel == 0);
    graph_free(g);
    tensor_free(s), tensor_free(e);
}

/* ---- dropout ---- */

typedef struct {
    float p;
    uint64_t seed;
} DropCtx;

/* Reseeds on every call, so every evaluation of the gradient check draws the same mask. */
static Tensor *build_dropout(Graph *g, Tensor **in, void *ctx)
{
    const DropCtx *c = ctx;
    Rng r;
    rng_seed(&r, c->seed);
    return op_dropout(g, in[0], c->p, 1, &r);
}

TEST(dropout_gradcheck)
{
    Tensor *x = gc_input(10, 3, (int[]){2, 3, 8});
    DropCtx cases[] = {{0.25f, 7}, {0.5f, 8}, {0.9f, 9}};
    for (int i = 0; i < 3; i++) gradcheck("dropout", build_dropout, &x, 1, &cases[i], &(GradcheckOpts){.max_elems = 48});
    tensor_free(x);
}

/* PyTorch's RNG differs, so parity is statistical: the fraction zeroed is close to p, the
 * survivors are x / (1 - p) exactly, and the gradient is the mask times 1 / (1 - p). */
TEST(dropout_statistics)
{
    const float ps[] = {0.1f, 0.3f, 0.7f};
    Tensor *x = gc_input(11, 2, (int[]){200, 500});
    float *gy = malloc((size_t)x->numel * sizeof *gy);
    Rng seed_rng;
    rng_seed(&seed_rng, 12);
    rng_fill_normal(&seed_rng, gy, x->numel, 1.0f);
    for (int k = 0; k < 3; k++) {
        float p = ps[k], scale = 1.0f / (1.0f - p);
        tensor_zero_grad(x);
        Graph *g = graph_new();
        Rng r;
        rng_seed(&r, 100 + k);
        Tensor *y = op_dropout(g, x, p, 1, &r);
        REQUIRE(y && y != x && y->requires_grad);
        REQUIRE(graph_backward(g, y, gy) == 0);
        long zeros = 0, bad_value = 0, bad_grad = 0;
        for (long i = 0; i < x->numel; i++) {
            int kept = y->data[i] != 0;
            zeros += !kept;
            bad_value += kept && y->data[i] != x->data[i] * scale;
            bad_grad += x->grad[i] != (kept ? gy[i] * scale : 0.0f);
        }
        double frac = (double)zeros / x->numel;
        /* 100000 draws: the standard deviation of the fraction is below 0.0015 */
        CHECK_MSG(fabs(frac - p) < 0.01, "p = %g: %.4f zeroed", (double)p, frac);
        CHECK(bad_value == 0);
        CHECK(bad_grad == 0);
        /* same rng state, same mask; the next draw differs */
        rng_seed(&r, 100 + k);
        Tensor *y2 = op_dropout(g, x, p, 1, &r), *y3 = op_dropout(g, x, p, 1, &r);
        REQUIRE(y2 && y3);
        CHECK(memcmp(y->data, y2->data, (size_t)x->numel * sizeof(float)) == 0);
        CHECK(memcmp(y->data, y3->data, (size_t)x->numel * sizeof(float)) != 0);
        graph_free(g);
    }
    free(gy);
    tensor_free(x);
}

TEST(dropout_eval_identity_and_errors)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(13, 2, (int[]){4, 5});
    Rng r;
    rng_seed(&r, 1);
    Rng before = r;
    CHECK(op_dropout(g, x, 0.5f, 0, &r) == x);
    CHECK(op_dropout(g, x, 0.0f, 1, &r) == x);
    CHECK(op_dropout(g, x, 0.5f, 0, NULL) == x);
    CHECK(memcmp(&before, &r, sizeof r) == 0);
    CHECK(graph_tape_len(g) == 0);
    Tensor *z = op_dropout(g, x, 1.0f, 1, &r);
    REQUIRE(z);
    long nonzero = 0;
    for (long i = 0; i < z->numel; i++) nonzero += z->data[i] != 0;
    CHECK(nonzero == 0);
    CHECK(op_dropout(g, x, 1.5f, 1, &r) == NULL);
    CHECK(strstr(mvla_error_message(), "dropout: probability 1.5") != NULL);
    CHECK(op_dropout(g, x, -0.1f, 1, &r) == NULL);
    CHECK(op_dropout(g, x, NAN, 1, &r) == NULL);
    CHECK(op_dropout(g, x, 0.5f, 1, NULL) == NULL);
    CHECK(strstr(mvla_error_message(), "Rng") != NULL);
    CHECK(op_dropout(g, NULL, 0.5f, 1, &r) == NULL);
    graph_free(g);
    tensor_free(x);
}

TEST(softmax_dropout_no_grad_records_nothing)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(14, 2, (int[]){3, 4});
    Rng r;
    rng_seed(&r, 2);
    graph_set_grad(g, 0);
    Tensor *a = op_softmax(g, x), *b = op_log_softmax(g, x), *c = op_dropout(g, x, 0.5f, 1, &r);
    CHECK(a && b && c && !a->requires_grad && !b->requires_grad && !c->requires_grad);
    CHECK(graph_tape_len(g) == 0);
    /* the same mask is drawn with and without gradients */
    graph_set_grad(g, 1);
    rng_seed(&r, 2);
    graph_set_grad(g, 0);
    (void)op_softmax(g, x);
    graph_set_grad(g, 1);
    Tensor *d = op_dropout(g, x, 0.5f, 1, &r);
    REQUIRE(d);
    CHECK(d->requires_grad && graph_tape_len(g) == 1);
    CHECK(memcmp(c->data, d->data, (size_t)x->numel * sizeof(float)) == 0);
    graph_free(g);
    tensor_free(x);
}
