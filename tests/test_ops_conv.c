#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_conv.h"

#include "base/arena.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One convolution setting, mirrored by CASES in tests/ref/gen_conv.py. */
typedef struct {
    const char *name;
    int x[4], w[4], has_bias;
    Conv2dOpts o;
} ConvCase;

static const ConvCase CASES[] = {
    {"s2p1", {2, 4, 7, 7}, {6, 4, 3, 3}, 1, {2, 2, 1, 1, 1, 1, 1}},
    {"grouped", {2, 4, 6, 6}, {6, 2, 3, 3}, 1, {1, 1, 1, 1, 1, 1, 2}},
    {"dw", {2, 5, 6, 6}, {5, 1, 3, 3}, 1, {1, 1, 1, 1, 1, 1, 5}},
    {"dw_s2", {1, 4, 7, 7}, {4, 1, 3, 3}, 0, {2, 2, 1, 1, 1, 1, 4}},
    {"dw5_s2", {1, 3, 9, 8}, {3, 1, 5, 5}, 1, {2, 2, 2, 2, 1, 1, 3}},
    {"dw_dil", {1, 3, 7, 7}, {3, 1, 3, 3}, 0, {1, 2, 2, 1, 2, 1, 3}},
    {"dw_mult", {1, 3, 5, 5}, {6, 1, 3, 3}, 1, {1, 1, 1, 1, 1, 1, 3}},
    {"pw", {2, 6, 5, 5}, {4, 6, 1, 1}, 1, {1, 1, 0, 0, 1, 1, 1}},
    {"pw_grouped", {1, 6, 4, 4}, {4, 3, 1, 1}, 0, {1, 1, 0, 0, 1, 1, 2}},
    {"pw_s2", {1, 6, 5, 5}, {4, 6, 1, 1}, 1, {2, 2, 0, 0, 1, 1, 1}},
    {"rect", {1, 3, 7, 6}, {4, 3, 3, 2}, 1, {2, 1, 1, 0, 1, 2, 1}},
    {"dil", {1, 2, 8, 8}, {3, 2, 3, 3}, 0, {1, 1, 2, 2, 2, 2, 1}},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static Tensor *build_conv(Graph *g, Tensor **in, void *ctx)
{
    const ConvCase *c = ctx;
    return op_conv2d(g, in[0], in[1], in[2], c->o);
}

TEST(conv2d_gradcheck_every_path)
{
    for (int i = 0; i < N_CASES; i++) {
        const ConvCase *c = &CASES[i];
        Tensor *x = gc_input(10 + i, 4, c->x), *w = gc_input(20 + i, 4, c->w);
        Tensor *b = c->has_bias ? gc_input(30 + i, 1, &c->w[0]) : NULL;
        char label[64];
        snprintf(label, sizeof label, "conv2d %s", c->name);
        gradcheck(label, build_conv, (Tensor *[]){x, w, b}, 3, (void *)c, NULL);
        tensor_free(x), tensor_free(w), tensor_free(b);
    }
}

/* Output and x, w, bias gradients against F.conv2d, backward seeded with the reference gy. */
TEST(conv2d_matches_pytorch)
{
    const char *f = "conv.safetensors";
    for (int i = 0; i < N_CASES; i++) {
        const ConvCase *c = &CASES[i];
        char name[64];
#define LOAD(part) (snprintf(name, sizeof name, "%s." part, c->name), ref_load(f, name))
#define CHECK_REF(part, data, n) (snprintf(name, sizeof name, "%s." part, c->name), ref_check(f, name, data, n, 1e-5, 1e-5))
        Tensor *x = LOAD("x"), *w = LOAD("w"), *gy = LOAD("gy"), *b = c->has_bias ? LOAD("b") : NULL;
        if (!x || !w || !gy || (c->has_bias && !b)) {
            tensor_free(x), tensor_free(w), tensor_free(gy), tensor_free(b);
            REQUIRE(0);
        }
        tensor_requires_grad(x), tensor_requires_grad(w);
        if (b) tensor_requires_grad(b);
        Graph *g = graph_new();
        Tensor *y = op_conv2d(g, x, w, b, c->o);
        CHECK_MSG(y != NULL, "%s: %s", c->name, mvla_error_message());
        if (y) {
            CHECK_REF("y", y->data, y->numel);
            CHECK(graph_backward(g, y, gy->data) == 0);
            CHECK_REF("gx", x->grad, x->numel);
            CHECK_REF("gw", w->grad, w->numel);
            if (b) CHECK_REF("gb", b->grad, b->numel);
        }
        graph_free(g);
        tensor_free(x), tensor_free(w), tensor_free(gy), tensor_free(b);
#undef LOAD
#undef CHECK_REF
    }
}

/* A MobileNet-style block at a slightly larger size crosses the threading thresholds:
 * depthwise 3x3 then 1x1, compared with a plain six-loop convolution. */
static void naive_conv(const float *x, const float *w, const float *b, float *y, const int *xs, const int *ws,
                       Conv2dOpts o, int Ho, int Wo)
{
    int G = o.groups, cig = xs[1] / G, cog = ws[0] / G;
    for (int n = 0; n < xs[0]; n++)
        for (int co = 0; co < ws[0]; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b ? b[co] : 0;
                    int gi = co / cog;
                    for (int ci = 0; ci < cig; ci++)
                        for (int ki = 0; ki < ws[2]; ki++)
                            for (int kj = 0; kj < ws[3]; kj++) {
                                int ih = oh * o.stride_h - o.pad_h + ki, iw = ow * o.stride_w - o.pad_w + kj;
                                if (ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3]) continue;
                                acc += (double)x[(((long)n * xs[1] + gi * cig + ci) * xs[2] + ih) * xs[3] + iw] *
                                       w[(((long)co * cig + ci) * ws[2] + ki) * ws[3] + kj];
                            }
                    y[(((long)n * ws[0] + co) * Ho + oh) * Wo + ow] = (float)acc;
                }
}

TEST(conv2d_large_matches_naive)
{
    Rng r;
    rng_seed(&r, 7);
    int xs[4] = {2, 32, 20, 20};
    struct { int ws[4]; Conv2dOpts o; } cases[] = {
        {{32, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 32}},
        {{32, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 32}},
        {{32, 1, 5, 5}, {1, 1, 2, 2, 1, 1, 32}},
        {{24, 32, 1, 1}, {1, 1, 0, 0, 1, 1, 1}},
        {{16, 32, 3, 3}, {2, 2, 1, 1, 1, 1, 1}},
    };
    Tensor *x = tensor_new(4, xs);
    tensor_fill_normal(x, &r, 1.0f);
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        Tensor *w = tensor_new(4, cases[k].ws), *b = tensor_new_shape(1, cases[k].ws[0]);
        tensor_fill_normal(w, &r, 0.3f);
        tensor_fill_normal(b, &r, 1.0f);
        Graph *g = graph_new();
        Tensor *y = op_conv2d(g, x, w, b, cases[k].o);
        CHECK_MSG(y != NULL, "case %d: %s", k, mvla_error_message());
        if (y) {
            float *ref = calloc((size_t)y->numel, sizeof *ref);
            naive_conv(x->data, w->data, b->data, ref, xs, cases[k].ws, cases[k].o, y->shape[2], y->shape[3]);
            CHECK_MSG(max_abs_diff(y->data, ref, y->numel) < 1e-4, "case %d: max diff %g", k,
                      max_abs_diff(y->data, ref, y->numel));
            free(ref);
        }
        graph_free(g);
        tensor_free(w), tensor_free(b);
    }
    tensor_free(x);
}

/* After one step the arena holds enough for the next: forward + backward allocate nothing new. */
TEST(conv2d_steady_state_allocates_nothing)
{
    Tensor *x = gc_input(1, 4, (int[]){2, 8, 12, 12}), *w = gc_input(2, 4, (int[]){8, 8, 3, 3});
    Graph *g = graph_new();
    size_t cap = 0;
    for (int step = 0; step < 3; step++) {
        graph_reset(g);
        if (step == 2) cap = arena_capacity(graph_arena(g));
        Tensor *y = op_conv2d(g, x, w, NULL, conv2d_opts(1, 1, 1));
        REQUIRE(y);
        REQUIRE(graph_backward(g, y, y->data) == 0);
    }
    CHECK(arena_capacity(graph_arena(g)) == cap);
    graph_free(g);
    tensor_free(x), tensor_free(w);
}

TEST(conv2d_rejects_bad_shapes)
{
    Graph *g = graph_new();
    Tensor *x = tensor_new_shape(4, 1, 4, 5, 5), *w = tensor_new_shape(4, 6, 3, 3, 3);
    Tensor *w4 = tensor_new_shape(4, 6, 4, 3, 3), *w7 = tensor_new_shape(4, 6, 4, 7, 7);
    Tensor *b = tensor_new_shape(1, 5), *x3 = tensor_new_shape(3, 4, 5, 5);
    CHECK(op_conv2d(g, x, w, NULL, conv2d_opts(1, 1, 1)) == NULL); /* wrong Cin */
    CHECK(strstr(mvla_error_message(), "4 channels") != NULL);
    CHECK(op_conv2d(g, x, w4, NULL, conv2d_opts(1, 1, 3)) == NULL); /* groups do not divide */
    CHECK(strstr(mvla_error_message(), "must divide") != NULL);
    CHECK(op_conv2d(g, x, w7, NULL, conv2d_opts(1, 0, 1)) == NULL); /* 7x7 kernel on 5x5 */
    CHECK(strstr(mvla_error_message(), "larger than the padded input") != NULL);
    CHECK(op_conv2d(g, x, w7, NULL, conv2d_opts(1, 1, 1)) != NULL); /* 7x7 on 5x5 padded by 1 is fine */
    CHECK(op_conv2d(g, x, w4, b, conv2d_opts(1, 1, 1)) == NULL);   /* bias [5] for 6 outputs */
    CHECK(strstr(mvla_error_message(), "bias") != NULL);
    CHECK(op_conv2d(g, x3, w4, NULL, conv2d_opts(1, 1, 1)) == NULL); /* not 4-D */
    CHECK(strstr(mvla_error_message(), "[N, Cin, H, W]") != NULL);
    CHECK(op_conv2d(g, x, w4, NULL, (Conv2dOpts){.stride_h = -1}) == NULL);
    CHECK(op_conv2d(g, x, w4, NULL, (Conv2dOpts){.pad_w = -1}) == NULL);
    CHECK(op_conv2d(g, NULL, w4, NULL, conv2d_opts(1, 1, 1)) == NULL);
    CHECK(op_conv2d(g, x, NULL, NULL, conv2d_opts(1, 1, 1)) == NULL);
    graph_free(g);
    tensor_free(x), tensor_free(w), tensor_free(w4), tensor_free(w7), tensor_free(b), tensor_free(x3);
}
