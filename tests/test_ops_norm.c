#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_conv.h"
#include "tensor/ops_norm.h"

#include "base/error.h"

#include <stdio.h>
#include <string.h>

/* ---- batch norm ---- */

typedef struct {
    Tensor *rm, *rv;
    float momentum;
    int training;
} BnCtx;

static Tensor *build_bn(Graph *g, Tensor **in, void *ctx)
{
    BnCtx *c = ctx;
    return op_batchnorm2d(g, in[0], in[1], in[2], c->rm, c->rv, c->momentum, 1e-5f, c->training);
}

/* Running statistics away from the trivial 0 / 1. */
static void fill_running(Tensor *rm, Tensor *rv)
{
    for (long i = 0; i < rm->numel; i++) rm->data[i] = 0.1f * (float)i - 0.2f, rv->data[i] = 0.5f + 0.25f * (float)i;
}

TEST(batchnorm_gradcheck_train_and_eval)
{
    int xs[4] = {3, 4, 3, 3}, cs[1] = {4};
    Tensor *x = gc_input(1, 4, xs), *gamma = gc_input(2, 1, cs), *beta = gc_input(3, 1, cs);
    Tensor *rm = tensor_new(1, cs), *rv = tensor_new(1, cs);
    fill_running(rm, rv);
    for (int training = 0; training < 2; training++) {
        BnCtx ctx = {rm, rv, 0.1f, training};
        gradcheck(training ? "batchnorm train" : "batchnorm eval", build_bn, (Tensor *[]){x, gamma, beta}, 3, &ctx,
                  NULL);
        gradcheck(training ? "batchnorm train, no affine" : "batchnorm eval, no affine", build_bn,
                  (Tensor *[]){x, NULL, NULL}, 3, &ctx, NULL);
    }
    /* [N, C] input (BatchNorm1d), training without running statistics */
    Tensor *x2 = gc_input(4, 2, (int[]){5, 4});
    BnCtx ctx = {NULL, NULL, 0.1f, 1};
    gradcheck("batchnorm train [N, C]", build_bn, (Tensor *[]){x2, gamma, beta}, 3, &ctx, NULL);
    tensor_free(x), tensor_free(gamma), tensor_free(beta), tensor_free(rm), tensor_free(rv), tensor_free(x2);
}

/* Output, input gradients and the running statistics after the step, against F.batch_norm. */
static void check_bn_ref(const char *key, int training, int affine, float momentum)
{
    const char *f = "norm.safetensors";
    char name[96];
#define NAME(part) (snprintf(name, sizeof name, "%s." part, key), name)
    Tensor *x = ref_load(f, NAME("x")), *gy = ref_load(f, NAME("gy"));
    Tensor *rm = ref_load(f, NAME("running_mean")), *rv = ref_load(f, NAME("running_var"));
    Tensor *gamma = affine ? ref_load(f, NAME("gamma")) : NULL, *beta = affine ? ref_load(f, NAME("beta")) : NULL;
    Graph *g = graph_new();
    if (x && gy && rm && rv && (!affine || (gamma && beta))) {
        tensor_requires_grad(x);
        if (affine) tensor_requires_grad(gamma), tensor_requires_grad(beta);
        Tensor *y = op_batchnorm2d(g, x, gamma, beta, rm, rv, momentum, 1e-5f, training);
        CHECK_MSG(y != NULL, "%s: %s", key, mvla_error_message());
        if (y) {
            ref_check(f, NAME("y"), y->data, y->numel, 1e-5, 1e-5);
            ref_check(f, NAME("running_mean_after"), rm->data, rm->numel, 1e-6, 1e-5);
            ref_check(f, NAME("running_var_after"), rv->data, rv->numel, 1e-6, 1e-5);
            CHECK(graph_backward(g, y, gy->data) == 0);
            ref_check(f, NAME("gx"), x->grad, x->numel, 1e-5, 1e-4);
            if (affine) {
                ref_check(f, NAME("ggamma"), gamma->grad, gamma->numel, 1e-5, 1e-5);
                ref_check(f, NAME("gbeta"), beta->grad, beta->numel, 1e-5, 1e-5);
            }
        }
    }
#undef NAME
    graph_free(g);
    tensor_free(x), tensor_free(gy), tensor_free(rm), tensor_free(rv), tensor_free(gamma), tensor_free(beta);
}

TEST(batchnorm_matches_pytorch)
{
    check_bn_ref("bn_train", 1, 1, 0.1f);
    check_bn_ref("bn_eval", 0, 1, 0.1f);
    check_bn_ref("bn_train_1d", 1, 0, 0.2f);
}

/* conv (+bias or not) then eval batch norm == the folded conv, for a regular, a 1x1 and a depthwise conv. */
TEST(bn_fold_matches_conv_then_batchnorm)
{
    struct { int w[4], has_bias; Conv2dOpts o; } cases[] = {
        {{6, 4, 3, 3}, 1, {2, 2, 1, 1, 1, 1, 1}},
        {{5, 4, 1, 1}, 0, {1, 1, 0, 0, 1, 1, 1}},
        {{4, 1, 3, 3}, 0, {1, 1, 1, 1, 1, 1, 4}},
    };
    Tensor *x = gc_input(11, 4, (int[]){2, 4, 6, 6});
    x->requires_grad = 0;
    for (int k = 0; k < 3; k++) {
        int C = cases[k].w[0];
        Tensor *w = gc_input(12 + k, 4, cases[k].w), *b = cases[k].has_bias ? gc_input(20 + k, 1, &C) : NULL;
        Tensor *gamma = gc_input(30 + k, 1, &C), *beta = gc_input(40 + k, 1, &C);
        Tensor *rm = gc_input(50 + k, 1, &C), *rv = tensor_new(1, &C);
        for (int i = 0; i < C; i++) rv->data[i] = 0.3f + 0.4f * (float)i;
        Graph *g = graph_new();
        graph_set_grad(g, 0);
        Tensor *y = op_batchnorm2d(g, op_conv2d(g, x, w, b, cases[k].o), gamma, beta, rm, rv, 0.1f, 1e-5f, 0);
        Tensor *b_before = b;
        CHECK(bn_fold_into_conv(w, &b, gamma, beta, rm, rv, 1e-5f) == 0);
        CHECK(b != NULL && (b_before == NULL || b == b_before));
        Tensor *yf = op_conv2d(g, x, w, b, cases[k].o);
        CHECK_MSG(y && yf, "case %d: %s", k, mvla_error_message());
        if (y && yf) CHECK_MSG(max_abs_diff(y->data, yf->data, y->numel) < 1e-5, "case %d: folded conv differs by %g",
                               k, max_abs_diff(y->data, yf->data, y->numel));
        graph_free(g);
        tensor_free(w), tensor_free(b), tensor_free(gamma), tensor_free(beta), tensor_free(rm), tensor_free(rv);
    }
    tensor_free(x);
}

TEST(batchnorm_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(4, 2, 3, 4, 4), *c3 = tensor_new_shape(1, 3), *c4 = tensor_new_shape(1, 4);
    Tensor *x1 = tensor_new_shape(1, 5), *one = tensor_new_shape(4, 1, 3, 1, 1), *w = tensor_new_shape(4, 3, 3, 1, 1);
    CHECK(op_batchnorm2d(g, x, c4, c3, c3, c3, 0.1f, 1e-5f, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "gamma") && strstr(mvla_error_message(), "expected [3]"));
    CHECK(op_batchnorm2d(g, x, c3, c3, c3, c4, 0.1f, 1e-5f, 0) == NULL);
    CHECK(strstr(mvla_error_message(), "running_var") != NULL);
    CHECK(op_batchnorm2d(g, x, c3, c3, NULL, NULL, 0.1f, 1e-5f, 0) == NULL);
    CHECK(strstr(mvla_error_message(), "eval mode needs") != NULL);
    CHECK(op_batchnorm2d(g, x1, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "[N, C, ...]") != NULL);
    CHECK(op_batchnorm2d(g, one, c3, c3, c3, c3, 0.1f, 1e-5f, 1) == NULL);
    CHECK(strstr(mvla_error_message(), "more than 1") != NULL);
    CHECK(op_batchnorm2d(g, one, c3, c3, c3, c3, 0.1f, 1e-5f, 0) != NULL); /* eval is fine with one value */
    CHECK(op_batchnorm2d(g, NULL, c3, c3, c3, c3, 0.1f, 1e-5f, 0) == NULL);
    Tensor *b = NULL;
    CHECK(bn_fold_into_conv(w, &b, c4, c3, c3, c3, 1e-5f) != 0 && b == NULL);
    CHECK(bn_fold_into_conv(w, &b, c3, c3, NULL, c3, 1e-5f) != 0 && b == NULL);
    graph_free(g);
    tensor_free(x), tensor_free(c3), tensor_free(c4), tensor_free(x1), tensor_free(one), tensor_free(w);
}

/* ---- layer norm ---- */

static Tensor *build_ln(Graph *g, Tensor **in, void *ctx)
{
    (void)ctx;
    return op_layernorm(g, in[0], in[1], in[2], 1e-5f);
}

TEST(layernorm_gradcheck_with_and_without_affine)
{
    Tensor *x = gc_input(1, 3, (int[]){2, 3, 7}), *gamma = gc_input(2, 1, (int[]){7}), *beta = gc_input(3, 1, (int[]){7});
    gradcheck("layernorm affine", build_ln, (Tensor *[]){x, gamma, beta}, 3, NULL, NULL);
    gradcheck("layernorm plain", build_ln, (Tensor *[]){x, NULL, NULL}, 3, NULL, NULL);
    gradcheck("layernorm gamma only", build_ln, (Tensor *[]){x, gamma, NULL}, 3, NULL, NULL);
    tensor_free(x), tensor_free(gamma), tensor_free(beta);
}

static void check_ln_ref(const char *key, int affine)
{
    const char *f = "norm.safetensors";
    char name[96];
#define NAME(part) (snprintf(name, sizeof name, "%s." part, key), name)
    Tensor *x = ref_load(f, NAME("x")), *gy = ref_load(f, NAME("gy"));
    Tensor *gamma = affine ? ref_load(f, NAME("gamma")) : NULL, *beta = affine ? ref_load(f, NAME("beta")) : NULL;
    Graph *g = graph_new();
    if (x && gy && (!affine || (gamma && beta))) {
        tensor_requires_grad(x);
        if (affine) tensor_requires_grad(gamma), tensor_requires_grad(beta);
        Tensor *y = op_layernorm(g, x, gamma, beta, 1e-5f);
        CHECK_MSG(y != NULL, "%s: %s", key, mvla_error_message());
        if (y) {
            ref_check(f, NAME("y"), y->data, y->numel, 1e-5, 1e-5);
            CHECK(graph_backward(g, y, gy->data) == 0);
            ref_check(f, NAME("gx"), x->grad, x->numel, 1e-5, 1e-4);
            if (affine) {
                ref_check(f, NAME("ggamma"), gamma->grad, gamma->numel, 1e-5, 1e-5);
                ref_check(f, NAME("gbeta"), beta->grad, beta->numel, 1e-5, 1e-5);
            }
        }
    }
#undef NAME
    graph_free(g);
    tensor_free(x), tensor_free(gy), tensor_free(gamma), tensor_free(beta);
}

TEST(layernorm_matches_pytorch)
{
    check_ln_ref("ln", 1);
    check_ln_ref("ln_plain", 0);
}

TEST(layernorm_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(2, 3, 8), *v7 = tensor_new_shape(1, 7), *v8 = tensor_new_shape(1, 8);
    Tensor *s = tensor_new_shape(0);
    CHECK(op_layernorm(g, x, v7, v8, 1e-5f) == NULL);
    CHECK(strstr(mvla_error_message(), "gamma") && strstr(mvla_error_message(), "expected [8]"));
    CHECK(op_layernorm(g, x, v8, v7, 1e-5f) == NULL);
    CHECK(strstr(mvla_error_message(), "beta") != NULL);
    CHECK(op_layernorm(g, s, NULL, NULL, 1e-5f) == NULL);
    CHECK(op_layernorm(g, NULL, v8, v8, 1e-5f) == NULL);
    CHECK(op_layernorm(g, x, v8, NULL, 1e-5f) != NULL);
    graph_free(g);
    tensor_free(x), tensor_free(v7), tensor_free(v8), tensor_free(s);
}
