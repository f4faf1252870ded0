#include "gradcheck.h"
#include "ref.h"
#include "test.h"
#include "tensor/ops_conv.h"

#include "base/arena.h"
#include "base/error.h"
#include "base/threads.h"

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

/* ---- depthwise forward and backward: every kernel path against plain loops ---- */

/* Depthwise settings: x [N, C, H, W], a kh x kw filter per channel. The fast path takes 3x3 and 5x5 at stride 1
 * or 2 (either padding); the rest (7x7, dilation, mixed strides, rectangular kernels, stride 3) is generic. */
typedef struct {
    int N, C, H, W, kh, kw;
    Conv2dOpts o;
} DwCase;

static const DwCase DW_CASES[] = {
    {2, 3, 32, 32, 3, 3, {1, 1, 1, 1, 1, 1, 3}},
    {2, 3, 16, 16, 3, 3, {2, 2, 1, 1, 1, 1, 3}},
    {2, 3, 32, 32, 3, 3, {2, 2, 1, 1, 1, 1, 3}},
    {2, 3, 8, 8, 3, 3, {1, 1, 1, 1, 1, 1, 3}},
    {3, 2, 8, 8, 5, 5, {2, 2, 2, 2, 1, 1, 2}},
    {2, 3, 4, 4, 5, 5, {1, 1, 2, 2, 1, 1, 3}},
    {2, 3, 4, 4, 5, 5, {2, 2, 2, 2, 1, 1, 3}},
    {1, 2, 4, 4, 3, 3, {1, 1, 1, 1, 1, 1, 2}},
    {2, 2, 5, 7, 3, 3, {1, 1, 1, 1, 1, 1, 2}},
    {2, 2, 5, 7, 3, 3, {2, 2, 1, 1, 1, 1, 2}},
    {2, 2, 7, 5, 5, 5, {2, 2, 2, 2, 1, 1, 2}},
    {1, 2, 9, 8, 5, 5, {1, 1, 2, 2, 1, 1, 2}},
    {2, 2, 6, 9, 3, 3, {1, 1, 0, 2, 1, 1, 2}},  /* asymmetric padding */
    {2, 2, 9, 6, 5, 5, {2, 2, 2, 0, 1, 1, 2}},
    {1, 2, 7, 8, 3, 3, {2, 2, 1, 0, 1, 1, 2}},
    {1, 2, 6, 6, 3, 3, {2, 2, 0, 0, 1, 1, 2}},  /* no padding */
    {1, 2, 7, 7, 5, 5, {1, 1, 0, 0, 1, 1, 2}},
    {1, 2, 3, 5, 3, 3, {1, 1, 3, 1, 1, 1, 2}},  /* padding past the kernel: outputs over zeros only */
    {1, 2, 5, 5, 3, 3, {2, 2, 3, 2, 1, 1, 2}},
    {1, 2, 1, 6, 3, 3, {1, 1, 1, 1, 1, 1, 2}},  /* one row */
    {1, 2, 2, 2, 5, 5, {2, 2, 2, 2, 1, 1, 2}},  /* 2x2 -> 1x1 */
    {1, 2, 3, 3, 5, 5, {1, 1, 2, 2, 1, 1, 2}},
    {2, 2, 9, 9, 7, 7, {1, 1, 3, 3, 1, 1, 2}},  /* generic: 7x7 */
    {1, 2, 9, 8, 3, 3, {1, 1, 2, 2, 2, 2, 2}},  /* generic: dilation 2 */
    {1, 2, 8, 8, 3, 3, {1, 2, 1, 1, 1, 1, 2}},  /* generic: stride 1x2 */
    {1, 2, 8, 8, 3, 5, {1, 1, 1, 2, 1, 1, 2}},  /* generic: 3x5 */
    {2, 2, 11, 11, 3, 3, {3, 3, 1, 1, 1, 1, 2}}, /* generic: stride 3 */
    {4, 24, 16, 16, 3, 3, {1, 1, 1, 1, 1, 1, 24}}, /* large enough for threads */
    {4, 24, 16, 16, 5, 5, {2, 2, 2, 2, 1, 1, 24}},
    {4, 24, 9, 11, 5, 5, {1, 1, 2, 2, 1, 1, 24}},
};
#define N_DW_CASES (int)(sizeof DW_CASES / sizeof DW_CASES[0])

/* dx and dw of a depthwise convolution (added onto dx and dw), summed plainly in double. */
static void naive_depthwise_backward(const DwCase *c, int Ho, int Wo, const float *x, const float *w,
                                     const float *dy, float *dx, float *dw)
{
    const Conv2dOpts *o = &c->o;
    double *gx = malloc((size_t)c->H * c->W * sizeof *gx);
    if (!gx) return;
    for (int ch = 0; ch < c->C; ch++) {
        double gw[64] = {0};
        for (int n = 0; n < c->N; n++) {
            long pl = (long)n * c->C + ch;
            const float *xp = x + pl * c->H * c->W, *dyp = dy + pl * Ho * Wo;
            memset(gx, 0, (size_t)c->H * c->W * sizeof *gx);
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++)
                    for (int ki = 0; ki < c->kh; ki++)
                        for (int kj = 0; kj < c->kw; kj++) {
                            int ih = oh * o->stride_h - o->pad_h + ki * o->dilation_h;
                            int iw = ow * o->stride_w - o->pad_w + kj * o->dilation_w;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                            double g = dyp[oh * Wo + ow];
                            gx[ih * c->W + iw] += g * w[(ch * c->kh + ki) * c->kw + kj];
                            gw[ki * c->kw + kj] += g * xp[ih * c->W + iw];
                        }
            for (int k = 0; k < c->H * c->W; k++) dx[pl * c->H * c->W + k] += (float)gx[k];
        }
        for (int k = 0; k < c->kh * c->kw; k++) dw[ch * c->kh * c->kw + k] += (float)gw[k];
    }
    free(gx);
}

static double max_abs(const float *a, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* Runs case c forward and backward on seeded inputs; x->grad and w->grad start from nonzero values (the op adds
 * onto them). Returns 0 and fills *x, *w, *gy (caller frees), or -1. */
static int dw_case_run(const DwCase *c, unsigned seed, Tensor **x, Tensor **w, Tensor **gy)
{
    Rng r;
    rng_seed(&r, seed);
    *x = tensor_new_shape(4, c->N, c->C, c->H, c->W), *w = tensor_new_shape(4, c->C, 1, c->kh, c->kw), *gy = NULL;
    tensor_fill_normal(*x, &r, 1.0f), tensor_fill_normal(*w, &r, 0.5f);
    tensor_requires_grad(*x), tensor_requires_grad(*w);
    rng_fill_normal(&r, (*x)->grad, (*x)->numel, 1.0f);
    rng_fill_normal(&r, (*w)->grad, (*w)->numel, 1.0f);
    Graph *g = graph_new();
    Tensor *y = op_conv2d(g, *x, *w, NULL, c->o);
    int rc = -1;
    if (y) {
        *gy = tensor_new(4, y->shape);
        tensor_fill_normal(*gy, &r, 1.0f);
        rc = graph_backward(g, y, (*gy)->data) == 0 ? 0 : -1;
    }
    graph_free(g);
    return rc;
}

TEST(conv2d_depthwise_backward_matches_naive)
{
    for (int i = 0; i < N_DW_CASES; i++) {
        const DwCase *c = &DW_CASES[i];
        Tensor *x, *w, *gy;
        int rc = dw_case_run(c, 100 + i, &x, &w, &gy);
        CHECK_MSG(rc == 0, "case %d: %s", i, mvla_error_message());
        if (rc == 0) {
            /* The same starting grads, plus plain loops. */
            Rng r;
            rng_seed(&r, 100 + i);
            Tensor *x0 = tensor_new(4, x->shape), *w0 = tensor_new(4, w->shape);
            tensor_fill_normal(x0, &r, 1.0f), tensor_fill_normal(w0, &r, 0.5f); /* replays x, w: skipped */
            rng_fill_normal(&r, x0->data, x0->numel, 1.0f);
            rng_fill_normal(&r, w0->data, w0->numel, 1.0f);
            naive_depthwise_backward(c, gy->shape[2], gy->shape[3], x->data, w->data, gy->data, x0->data, w0->data);
            double ex = max_abs_diff(x->grad, x0->data, x->numel) / (1 + max_abs(x0->data, x0->numel));
            double ew = max_abs_diff(w->grad, w0->data, w->numel) / (1 + max_abs(w0->data, w0->numel));
            CHECK_MSG(ex < 1e-5, "case %d (%dx%d k%dx%d s%dx%d p%dx%d d%dx%d): dx relative error %g", i, c->H, c->W,
                      c->kh, c->kw, c->o.stride_h, c->o.stride_w, c->o.pad_h, c->o.pad_w, c->o.dilation_h,
                      c->o.dilation_w, ex);
            CHECK_MSG(ew < 1e-5, "case %d (%dx%d k%dx%d s%dx%d p%dx%d d%dx%d): dw relative error %g", i, c->H, c->W,
                      c->kh, c->kw, c->o.stride_h, c->o.stride_w, c->o.pad_h, c->o.pad_w, c->o.dilation_h,
                      c->o.dilation_w, ew);
            tensor_free(x0), tensor_free(w0);
        }
        tensor_free(x), tensor_free(w), tensor_free(gy);
    }
}

/* y of a depthwise convolution plus bias, summed plainly in double. */
static void naive_depthwise_forward(const DwCase *c, int Ho, int Wo, const float *x, const float *w, const float *b,
                                    float *y)
{
    const Conv2dOpts *o = &c->o;
    for (int n = 0; n < c->N; n++)
        for (int ch = 0; ch < c->C; ch++) {
            long pl = (long)n * c->C + ch;
            const float *xp = x + pl * c->H * c->W;
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b[ch];
                    for (int ki = 0; ki < c->kh; ki++)
                        for (int kj = 0; kj < c->kw; kj++) {
                            int ih = oh * o->stride_h - o->pad_h + ki * o->dilation_h;
                            int iw = ow * o->stride_w - o->pad_w + kj * o->dilation_w;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                            acc += (double)w[(ch * c->kh + ki) * c->kw + kj] * xp[ih * c->W + iw];
                        }
                    y[pl * Ho * Wo + oh * Wo + ow] = (float)acc;
                }
        }
}

/* The forward of case c on seeded x, w and bias (no grad): y, or NULL; fills *x, *w, *b (caller frees). */
static Tensor *dw_forward_run(const DwCase *c, unsigned seed, Tensor **x, Tensor **w, Tensor **b)
{
    Rng r;
    rng_seed(&r, seed);
    *x = tensor_new_shape(4, c->N, c->C, c->H, c->W), *w = tensor_new_shape(4, c->C, 1, c->kh, c->kw);
    *b = tensor_new_shape(1, c->C);
    tensor_fill_normal(*x, &r, 1.0f), tensor_fill_normal(*w, &r, 0.5f), tensor_fill_normal(*b, &r, 1.0f);
    Graph *g = graph_new();
    Tensor *y = op_conv2d(g, *x, *w, *b, c->o), *out = NULL;
    if (y) {
        out = tensor_new(4, y->shape);
        memcpy(out->data, y->data, (size_t)y->numel * sizeof *out->data);
    }
    graph_free(g);
    return out;
}

TEST(conv2d_depthwise_forward_matches_naive)
{
    for (int i = 0; i < N_DW_CASES; i++) {
        const DwCase *c = &DW_CASES[i];
        Tensor *x, *w, *b, *y = dw_forward_run(c, 300 + i, &x, &w, &b);
        CHECK_MSG(y != NULL, "case %d: %s", i, mvla_error_message());
        if (y) {
            Tensor *y0 = tensor_new(4, y->shape);
            naive_depthwise_forward(c, y->shape[2], y->shape[3], x->data, w->data, b->data, y0->data);
            double e = max_abs_diff(y->data, y0->data, y->numel) / (1 + max_abs(y0->data, y0->numel));
            CHECK_MSG(e < 1e-5, "case %d (%dx%d k%dx%d s%dx%d p%dx%d d%dx%d): y relative error %g", i, c->H, c->W,
                      c->kh, c->kw, c->o.stride_h, c->o.stride_w, c->o.pad_h, c->o.pad_w, c->o.dilation_h,
                      c->o.dilation_w, e);
            tensor_free(y0);
        }
        tensor_free(x), tensor_free(w), tensor_free(b), tensor_free(y);
    }
}

/* Bit-identical at any thread count: each output sums its taps in a fixed order whatever plane a thread
 * takes, dx is per plane, and dw sums the batch in a fixed order per channel. */
TEST(conv2d_depthwise_independent_of_threads)
{
    int prev = mvla_get_threads();
    for (int i = 0; i < N_DW_CASES; i++) {
        const DwCase *c = &DW_CASES[i];
        Tensor *x[2], *w[2], *b[2], *y[2], *gx[2], *gw[2], *gy[2];
        int back_ok = 1;
        for (int k = 0; k < 2; k++) {
            mvla_set_threads(k ? 3 : 1);
            y[k] = dw_forward_run(c, 400 + i, &x[k], &w[k], &b[k]);
            back_ok &= dw_case_run(c, 200 + i, &gx[k], &gw[k], &gy[k]) == 0;
        }
        CHECK(y[0] && y[1] && back_ok);
        if (y[0] && y[1])
            CHECK_MSG(!memcmp(y[0]->data, y[1]->data, (size_t)y[0]->numel * sizeof(float)), "case %d: y differs", i);
        if (back_ok) {
            CHECK_MSG(!memcmp(gx[0]->grad, gx[1]->grad, (size_t)gx[0]->numel * sizeof(float)), "case %d: dx differs", i);
            CHECK_MSG(!memcmp(gw[0]->grad, gw[1]->grad, (size_t)gw[0]->numel * sizeof(float)), "case %d: dw differs", i);
        }
        for (int k = 0; k < 2; k++) {
            tensor_free(x[k]), tensor_free(w[k]), tensor_free(b[k]), tensor_free(y[k]);
            tensor_free(gx[k]), tensor_free(gw[k]), tensor_free(gy[k]);
        }
    }
    mvla_set_threads(prev);
}

/* Finite differences through the fast path's shapes and a generic one (small, so every element counts). */
TEST(conv2d_depthwise_gradcheck)
{
    static const DwCase cases[] = {
        {1, 2, 4, 4, 5, 5, {1, 1, 2, 2, 1, 1, 2}},
        {1, 2, 5, 7, 3, 3, {2, 2, 1, 0, 1, 1, 2}},
        {1, 2, 7, 5, 5, 5, {2, 2, 2, 1, 1, 1, 2}},
        {1, 2, 5, 6, 3, 3, {1, 1, 0, 2, 1, 1, 2}},
        {1, 2, 8, 8, 7, 7, {1, 1, 3, 3, 1, 1, 2}},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const DwCase *d = &cases[i];
        ConvCase c = {"dw", {d->N, d->C, d->H, d->W}, {d->C, 1, d->kh, d->kw}, 1, d->o};
        Tensor *x = gc_input(40 + i, 4, c.x), *w = gc_input(50 + i, 4, c.w), *b = gc_input(60 + i, 1, &c.w[0]);
        char label[64];
        snprintf(label, sizeof label, "depthwise case %d", i);
        gradcheck(label, build_conv, (Tensor *[]){x, w, b}, 3, &c, NULL);
        tensor_free(x), tensor_free(w), tensor_free(b);
    }
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
