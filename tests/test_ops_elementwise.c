#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_elementwise.h"

#include "base/error.h"

#include <stdio.h>
#include <string.h>

/* ---- binary ops with broadcasting ---- */

typedef Tensor *(*BinaryOp)(Graph *, Tensor *, Tensor *);
typedef struct {
    BinaryOp fn;
} BinaryCtx;

static Tensor *build_binary(Graph *g, Tensor **in, void *ctx)
{
    return ((BinaryCtx *)ctx)->fn(g, in[0], in[1]);
}

/* Same as the generator's `pairs`. */
static const struct {
    const char *name;
    int na, sa[3], nb, sb[3];
} pairs[] = {
    {"same", 3, {2, 3, 4}, 3, {2, 3, 4}},
    {"last", 3, {2, 3, 4}, 1, {4}},
    {"last_rev", 1, {4}, 3, {2, 3, 4}},
    {"cross", 3, {2, 1, 4}, 2, {3, 1}},
    {"cross_rev", 2, {3, 1}, 3, {2, 1, 4}},
    {"one", 3, {2, 3, 4}, 1, {1}},
    {"one_rev", 1, {1}, 3, {2, 3, 4}},
};
#define N_PAIRS ((int)(sizeof pairs / sizeof pairs[0]))

static const struct {
    const char *name;
    BinaryOp fn;
} binary_ops[] = {{"add", op_add}, {"sub", op_sub}, {"mul", op_mul}};

TEST(elementwise_binary_gradcheck_broadcast)
{
    for (int o = 0; o < 3; o++)
        for (int p = 0; p < N_PAIRS; p++) {
            Tensor *a = gc_input(10 + p, pairs[p].na, pairs[p].sa), *b = gc_input(20 + p, pairs[p].nb, pairs[p].sb);
            BinaryCtx ctx = {binary_ops[o].fn};
            char label[64];
            snprintf(label, sizeof label, "%s %s", binary_ops[o].name, pairs[p].name);
            gradcheck(label, build_binary, (Tensor *[]){a, b}, 2, &ctx, NULL);
            tensor_free(a);
            tensor_free(b);
        }
}

/* The same tensor on both sides: the two gradient contributions must add up. */
TEST(elementwise_binary_gradcheck_shared_input)
{
    Tensor *x = gc_input(30, 2, (int[]){3, 4});
    for (int o = 0; o < 3; o++) {
        BinaryCtx ctx = {binary_ops[o].fn};
        Tensor *in[2] = {x, x};
        tensor_zero_grad(x);
        Graph *g = graph_new();
        Tensor *y = build_binary(g, in, &ctx);
        REQUIRE(y && graph_backward(g, y, (float[12]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}) == 0);
        for (int i = 0; i < 12; i++) {
            float want = o == 0 ? 2.0f : o == 1 ? 0.0f : 2.0f * x->data[i];
            CHECK_NEAR(x->grad[i], want, 1e-6);
        }
        graph_free(g);
    }
    tensor_free(x);
}

TEST(elementwise_broadcast_output_shapes)
{
    Graph *g = graph_new();
    Tensor *a = tensor_new_shape(3, 2, 1, 4), *b = tensor_new_shape(2, 3, 1), *s = tensor_new(0, NULL);
    Tensor *v = tensor_new_shape(1, 4), *one = tensor_new_shape(1, 1);
    Tensor *y = op_mul(g, a, b);
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 4);
    y = op_add(g, s, v);
    REQUIRE(y);
    CHECK(y->ndim == 1 && y->shape[0] == 4);
    y = op_sub(g, s, s);
    REQUIRE(y);
    CHECK(y->ndim == 0 && y->numel == 1);
    y = op_add(g, one, s);
    REQUIRE(y);
    CHECK(y->ndim == 1 && y->shape[0] == 1);
    /* values: [2,1,4] * [3,1] */
    for (int i = 0; i < 8; i++) a->data[i] = (float)i;
    for (int i = 0; i < 3; i++) b->data[i] = (float)(10 * (i + 1));
    y = op_mul(g, a, b);
    REQUIRE(y);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) CHECK(y->data[(i * 3 + j) * 4 + k] == a->data[i * 4 + k] * b->data[j]);
    graph_free(g);
    tensor_free(a), tensor_free(b), tensor_free(s), tensor_free(v), tensor_free(one);
}

/* Big enough for the threaded paths; checked against a plain loop, and by gradcheck. */
TEST(elementwise_binary_large_matches_naive)
{
    Tensor *a = gc_input(40, 3, (int[]){64, 1, 24}), *b = gc_input(41, 2, (int[]){32, 1});
    Tensor *c = gc_input(42, 3, (int[]){64, 32, 24}), *v = gc_input(43, 1, (int[]){24});
    Graph *g = graph_new();
    Tensor *y = op_mul(g, a, b), *z = op_sub(g, c, v), *w = op_add(g, c, c);
    REQUIRE(y && z && w);
    double worst = 0;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 32; j++)
            for (int k = 0; k < 24; k++) {
                long o = ((long)i * 32 + j) * 24 + k;
                worst = fmax(worst, fabs(y->data[o] - a->data[i * 24 + k] * b->data[j]));
                worst = fmax(worst, fabs(z->data[o] - (c->data[o] - v->data[k])));
                worst = fmax(worst, fabs(w->data[o] - 2 * c->data[o]));
            }
    CHECK(worst == 0);
    graph_free(g);
    BinaryCtx mul = {op_mul}, sub = {op_sub};
    GradcheckOpts few = {.max_elems = 16};
    gradcheck("mul large", build_binary, (Tensor *[]){a, b}, 2, &mul, &few);
    gradcheck("sub large", build_binary, (Tensor *[]){c, v}, 2, &sub, &few);
    tensor_free(a), tensor_free(b), tensor_free(c), tensor_free(v);
}

/* ---- bias ---- */

static Tensor *build_bias(Graph *g, Tensor **in, void *ctx)
{
    (void)ctx;
    return op_bias(g, in[0], in[1]);
}

static Tensor *build_bias_channels(Graph *g, Tensor **in, void *ctx)
{
    (void)ctx;
    return op_bias_channels(g, in[0], in[1]);
}

TEST(elementwise_bias_gradcheck)
{
    Tensor *x = gc_input(50, 3, (int[]){2, 3, 5}), *b = gc_input(51, 1, (int[]){5});
    gradcheck("bias", build_bias, (Tensor *[]){x, b}, 2, NULL, NULL);
    Tensor *x4 = gc_input(52, 4, (int[]){2, 3, 4, 5}), *x3 = gc_input(53, 3, (int[]){3, 4, 5});
    Tensor *bc = gc_input(54, 1, (int[]){3});
    gradcheck("bias_channels 4-D", build_bias_channels, (Tensor *[]){x4, bc}, 2, NULL, NULL);
    gradcheck("bias_channels 3-D", build_bias_channels, (Tensor *[]){x3, bc}, 2, NULL, NULL);
    /* large: the threaded path */
    Tensor *xl = gc_input(55, 4, (int[]){4, 8, 32, 40}), *bl = gc_input(56, 1, (int[]){8});
    gradcheck("bias_channels large", build_bias_channels, (Tensor *[]){xl, bl}, 2, NULL, &(GradcheckOpts){.max_elems = 16});
    Graph *g = graph_new();
    Tensor *y = op_bias_channels(g, xl, bl);
    REQUIRE(y);
    long wrong = 0;
    for (long i = 0; i < y->numel; i++) wrong += y->data[i] != xl->data[i] + bl->data[(i / 1280) % 8];
    CHECK(wrong == 0);
    graph_free(g);
    tensor_free(x), tensor_free(b), tensor_free(x4), tensor_free(x3), tensor_free(bc);
    tensor_free(xl), tensor_free(bl);
}

/* ---- scalar ops and reductions ---- */

typedef struct {
    int which; /* 0 scale, 1 add_scalar, 2 sum, 3 mean, 4 sum_dim, 5 mean_dim */
    int dim, keepdim;
    float s;
} UnaryCtx;

static Tensor *build_unary(Graph *g, Tensor **in, void *ctx)
{
    const UnaryCtx *c = ctx;
    switch (c->which) {
    case 0: return op_scale(g, in[0], c->s);
    case 1: return op_add_scalar(g, in[0], c->s);
    case 2: return op_sum(g, in[0]);
    case 3: return op_mean(g, in[0]);
    case 4: return op_sum_dim(g, in[0], c->dim, c->keepdim);
    default: return op_mean_dim(g, in[0], c->dim, c->keepdim);
    }
}

TEST(elementwise_scalar_and_reduce_gradcheck)
{
    Tensor *x = gc_input(60, 3, (int[]){2, 3, 4});
    UnaryCtx cases[] = {{0, 0, 0, -1.7f}, {1, 0, 0, 0.6f}, {2, 0, 0, 0}, {3, 0, 0, 0}};
    const char *labels[] = {"scale", "add_scalar", "sum", "mean"};
    for (int i = 0; i < 4; i++) gradcheck(labels[i], build_unary, &x, 1, &cases[i], NULL);
    for (int which = 4; which <= 5; which++)
        for (int dim = -3; dim < 3; dim++)
            for (int keep = 0; keep < 2; keep++) {
                UnaryCtx c = {which, dim, keep, 0};
                char label[48];
                snprintf(label, sizeof label, "%s dim %d keep %d", which == 4 ? "sum_dim" : "mean_dim", dim, keep);
                gradcheck(label, build_unary, &x, 1, &c, NULL);
            }
    tensor_free(x);
}

TEST(elementwise_reduce_shapes)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(3, 2, 3, 4);
    for (int i = 0; i < 24; i++) x->data[i] = (float)i;
    Tensor *s = op_sum(g, x), *m = op_mean(g, x), *d = op_sum_dim(g, x, 1, 0), *k = op_mean_dim(g, x, -1, 1);
    REQUIRE(s && m && d && k);
    CHECK(s->ndim == 0 && s->data[0] == 276.0f);
    CHECK(m->ndim == 0 && m->data[0] == 11.5f);
    CHECK(d->ndim == 2 && d->shape[0] == 2 && d->shape[1] == 4);
    CHECK(d->data[0] == 0 + 4 + 8 && d->data[7] == 15 + 19 + 23);
    CHECK(k->ndim == 3 && k->shape[0] == 2 && k->shape[1] == 3 && k->shape[2] == 1);
    CHECK(k->data[5] == 21.5f);
    Tensor *v = tensor_new_shape(1, 5);
    Tensor *v0 = op_sum_dim(g, v, 0, 0);
    REQUIRE(v0);
    CHECK(v0->ndim == 0);
    graph_free(g);
    tensor_free(x), tensor_free(v);
}

/* ---- PyTorch parity ---- */

static Tensor *build_fixed(Graph *g, Tensor **in, void *ctx)
{
    const char *key = ctx;
    if (!strcmp(key, "bias")) return op_bias(g, in[0], in[1]);
    if (!strncmp(key, "bias_channels", 13)) return op_bias_channels(g, in[0], in[1]);
    if (!strcmp(key, "scale")) return op_scale(g, in[0], -1.7f);
    if (!strcmp(key, "add_scalar")) return op_add_scalar(g, in[0], 0.6f);
    if (!strcmp(key, "sum")) return op_sum(g, in[0]);
    if (!strcmp(key, "mean")) return op_mean(g, in[0]);
    int dim, keep;
    char red[8];
    if (sscanf(key, "%4[a-z]_dim%d_k%d", red, &dim, &keep) == 3)
        return !strcmp(red, "sum") ? op_sum_dim(g, in[0], dim, keep) : op_mean_dim(g, in[0], dim, keep);
    mvla_fail(MVLA_ERR_ARG, "no such case %s", key);
    return NULL;
}

TEST(elementwise_matches_pytorch)
{
    const char *ab[] = {"a", "b"}, *xb[] = {"x", "b"}, *x[] = {"x"};
    char key[64];
    for (int o = 0; o < 3; o++)
        for (int p = 0; p < N_PAIRS; p++) {
            snprintf(key, sizeof key, "%s_%s", binary_ops[o].name, pairs[p].name);
            BinaryCtx ctx = {binary_ops[o].fn};
            ref_check_op("pointwise.safetensors", key, ab, 2, build_binary, &ctx, 1e-6, 1e-6, 1);
        }
    const char *two[] = {"bias", "bias_channels4", "bias_channels3"};
    for (int i = 0; i < 3; i++) ref_check_op("pointwise.safetensors", two[i], xb, 2, build_fixed, (void *)two[i], 1e-6, 1e-6, 1);
    const char *one[] = {"scale", "add_scalar", "sum", "mean"};
    for (int i = 0; i < 4; i++) ref_check_op("pointwise.safetensors", one[i], x, 1, build_fixed, (void *)one[i], 1e-6, 1e-6, 1);
    const char *reds[] = {"sum", "mean"};
    for (int r = 0; r < 2; r++)
        for (int dim = 0; dim < 3; dim++)
            for (int keep = 0; keep < 2; keep++) {
                snprintf(key, sizeof key, "%s_dim%d_k%d", reds[r], dim == 2 ? -1 : dim, keep);
                ref_check_op("pointwise.safetensors", key, x, 1, build_fixed, key, 1e-6, 1e-6, 1);
            }
}

/* ---- errors and no_grad ---- */

TEST(elementwise_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *a = tensor_new_shape(2, 2, 3), *v4 = tensor_new_shape(1, 4), *c = tensor_new_shape(3, 2, 3, 4);
    Tensor *b24 = tensor_new_shape(2, 2, 4), *empty = tensor_new_shape(2, 0, 3), *img = tensor_new_shape(4, 2, 3, 4, 5);
    Tensor *b3 = tensor_new_shape(1, 3), *b5 = tensor_new_shape(1, 5);
    CHECK(op_add(g, a, v4) == NULL);
    CHECK(strstr(mvla_error_message(), "add: shapes [2, 3] and [4] do not broadcast") != NULL);
    CHECK(op_mul(g, c, b24) == NULL);
    CHECK(strstr(mvla_error_message(), "mul:") != NULL);
    CHECK(op_sub(g, b24, c) == NULL);
    CHECK(op_bias(g, c, b3) == NULL);
    CHECK(strstr(mvla_error_message(), "bias: input [2, 3, 4], bias [3]") != NULL);
    CHECK(op_bias(g, c, c) == NULL);
    CHECK(op_bias_channels(g, img, b5) == NULL);
    CHECK(strstr(mvla_error_message(), "bias_channels") != NULL);
    CHECK(op_bias_channels(g, a, b3) == NULL);
    CHECK(op_sum_dim(g, c, 3, 0) == NULL);
    CHECK(strstr(mvla_error_message(), "sum_dim: dimension 3 out of range") != NULL);
    CHECK(op_mean_dim(g, c, -4, 1) == NULL);
    CHECK(op_mean(g, empty) == NULL);
    CHECK(strstr(mvla_error_message(), "empty") != NULL);
    CHECK(op_mean_dim(g, empty, 0, 0) == NULL);
    Tensor *s = op_sum(g, empty);
    CHECK(s && s->data[0] == 0.0f);
    CHECK(op_add(g, NULL, a) == NULL && op_mul(g, a, NULL) == NULL && op_scale(g, NULL, 2) == NULL);
    CHECK(op_add_scalar(g, NULL, 2) == NULL && op_sum(g, NULL) == NULL && op_mean_dim(g, NULL, 0, 0) == NULL);
    CHECK(op_bias(g, NULL, b3) == NULL && op_bias_channels(g, img, NULL) == NULL);
    graph_free(g);
    tensor_free(a), tensor_free(v4), tensor_free(c), tensor_free(b24), tensor_free(empty), tensor_free(img);
    tensor_free(b3), tensor_free(b5);
}

TEST(elementwise_no_grad_records_nothing)
{
    Graph *g = graph_new();
    Tensor *x = gc_input(70, 2, (int[]){3, 4}), *b = gc_input(71, 1, (int[]){4});
    graph_set_grad(g, 0);
    Tensor *ys[] = {op_add(g, x, b), op_mul(g, x, x), op_bias(g, x, b), op_scale(g, x, 2), op_sum(g, x),
                    op_mean_dim(g, x, 0, 0)};
    for (int i = 0; i < 6; i++) CHECK(ys[i] && !ys[i]->requires_grad);
    CHECK(graph_tape_len(g) == 0);
    graph_set_grad(g, 1);
    Tensor *y = op_sub(g, x, b);
    CHECK(y && y->requires_grad && graph_tape_len(g) == 1);
    /* no input requires grad: nothing recorded either */
    Tensor *c = tensor_new_shape(1, 4);
    y = op_add(g, c, c);
    CHECK(y && !y->requires_grad && graph_tape_len(g) == 1);
    graph_free(g);
    tensor_free(x), tensor_free(b), tensor_free(c);
}
