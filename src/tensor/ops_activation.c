#include "tensor/ops_activation.h"

#include "tensor/parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Work is split into chunks of this many elements; small tensors stay on one thread. */
#define CHUNK 4096L

typedef enum { ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_QUICK_GELU, ACT_HARDSIGMOID, ACT_HARDSWISH, ACT_SIGMOID,
               ACT_TANH, ACT_SILU } Act;

static const char *const act_names[] = {"relu", "gelu", "gelu_tanh", "quick_gelu", "hardsigmoid", "hardswish",
                                        "sigmoid", "tanh", "silu"};

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define SQRT_2_OVER_PI 0.79788456080286536f
#define GELU_CUBIC 0.044715f
#define QUICK_GELU_K 1.702f

static inline float sigmoidf(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* e^x to a few ulp, branch-free so that loops calling it vectorise (libm's expf is a scalar call, which
 * made quick_gelu ~15% of a CLIP forward): x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial
 * to degree 7 (truncation error < 2e-8 relative), 2^n through the exponent bits. Above 88 it gives +inf,
 * below -87 zero (the subnormal range is flushed), NaN stays NaN. */
static inline float exp_vec(float xin)
{
    float x = xin > 88.0f ? 88.0f : xin;
    x = x < -87.0f ? -87.0f : x;
    const float round = 12582912.0f; /* 1.5 * 2^23: adding and subtracting it rounds to an integer */
    float n = (x * 1.44269504088896341f + round) - round;
    float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f; /* ln2 split hi + lo */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t e = ((int32_t)(n == n ? n : 0.0f) + 127) << 23; /* (a NaN is not converted to an integer: UB) */
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return xin > 88.0f ? INFINITY : xin < -87.0f ? 0.0f : p * scale;
}

/* y = f(x) on n elements. */
static void act_forward(Act k, const float *x, float *y, long n)
{
    switch (k) {
    case ACT_RELU:
        for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
        break;
    case ACT_GELU:
        for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
        break;
    case ACT_GELU_TANH:
        for (long i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));
        }
        break;
    case ACT_QUICK_GELU: /* x * sigmoid(1.702 x) */
        for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + exp_vec(-QUICK_GELU_K * x[i]));
        break;
    case ACT_HARDSIGMOID:
        for (long i = 0; i < n; i++) y[i] = x[i] <= -3.0f ? 0.0f : x[i] >= 3.0f ? 1.0f : x[i] / 6.0f + 0.5f;
        break;
    case ACT_HARDSWISH:
        for (long i = 0; i < n; i++) y[i] = x[i] <= -3.0f ? 0.0f : x[i] >= 3.0f ? x[i] : x[i] * (x[i] + 3.0f) / 6.0f;
        break;
    case ACT_SIGMOID:
        for (long i = 0; i < n; i++) y[i] = sigmoidf(x[i]);
        break;
    case ACT_TANH:
        for (long i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_SILU:
        for (long i = 0; i < n; i++) y[i] = x[i] * sigmoidf(x[i]);
        break;
    }
}

/* dx += dy * f'(x), on n elements; y = f(x) is at hand for sigmoid and tanh. */
static void act_backward_chunk(Act k, const float *x, const float *y, const float *dy, float *dx, long n)
{
    switch (k) {
    case ACT_RELU:
        for (long i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : 0.0f;
        break;
    case ACT_GELU:
        for (long i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2)), pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] += dy[i] * (cdf + v * pdf);
        }
        break;
    case ACT_GELU_TANH:
        for (long i = 0; i < n; i++) {
            float v = x[i];
            float t = tanhf(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
            float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * v * v);
            dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case ACT_QUICK_GELU:
        for (long i = 0; i < n; i++) {
            float s = 1.0f / (1.0f + exp_vec(-QUICK_GELU_K * x[i]));
            dx[i] += dy[i] * (s + QUICK_GELU_K * x[i] * s * (1.0f - s));
        }
        break;
    case ACT_HARDSIGMOID:
        for (long i = 0; i < n; i++) dx[i] += x[i] > -3.0f && x[i] < 3.0f ? dy[i] / 6.0f : 0.0f;
        break;
    case ACT_HARDSWISH:
        for (long i = 0; i < n; i++)
            dx[i] += x[i] < -3.0f ? 0.0f : x[i] < 3.0f ? dy[i] * (x[i] / 3.0f + 0.5f) : dy[i];
        break;
    case ACT_SIGMOID:
        for (long i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case ACT_TANH:
        for (long i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SILU:
        for (long i = 0; i < n; i++) {
            float s = sigmoidf(x[i]);
            dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    }
}

static void act_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    Act k = (Act)n->iarg[0];
    const float *x = n->in[0]->data, *y = n->out->data, *dy = n->out->grad;
    long numel = n->out->numel, nchunks = (numel + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long c = 0; c < nchunks; c++) {
        long lo = c * CHUNK, len = numel - lo < CHUNK ? numel - lo : CHUNK;
        act_backward_chunk(k, x + lo, y + lo, dy + lo, dx + lo, len);
    }
}

static Tensor *activation(Graph *g, Tensor *x, Act k)
{
    if (!x) return NULL;
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    if (!y) return NULL;
    long numel = x->numel, nchunks = (numel + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long c = 0; c < nchunks; c++) {
        long lo = c * CHUNK, len = numel - lo < CHUNK ? numel - lo : CHUNK;
        act_forward(k, x->data + lo, y->data + lo, len);
    }
    Node *n = graph_record(g, act_names[k], act_backward, y, 1, &x);
    if (n) n->iarg[0] = (int)k;
    return y;
}

Tensor *op_relu(Graph *g, Tensor *x) { return activation(g, x, ACT_RELU); }
Tensor *op_gelu(Graph *g, Tensor *x) { return activation(g, x, ACT_GELU); }
Tensor *op_gelu_tanh(Graph *g, Tensor *x) { return activation(g, x, ACT_GELU_TANH); }
Tensor *op_quick_gelu(Graph *g, Tensor *x) { return activation(g, x, ACT_QUICK_GELU); }
Tensor *op_hardsigmoid(Graph *g, Tensor *x) { return activation(g, x, ACT_HARDSIGMOID); }
Tensor *op_hardswish(Graph *g, Tensor *x) { return activation(g, x, ACT_HARDSWISH); }
Tensor *op_sigmoid(Graph *g, Tensor *x) { return activation(g, x, ACT_SIGMOID); }
Tensor *op_tanh(Graph *g, Tensor *x) { return activation(g, x, ACT_TANH); }
Tensor *op_silu(Graph *g, Tensor *x) { return activation(g, x, ACT_SILU); }
