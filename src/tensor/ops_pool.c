#include "tensor/ops_pool.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>

typedef struct {
    int N, C, H, W, Ho, Wo;
    int kh, kw, sh, sw, ph, pw;
} PoolGeom;

Pool2dOpts pool2d_opts(int kernel, int stride, int pad) { return (Pool2dOpts){kernel, kernel, stride, stride, pad, pad}; }

/* Checks x and the settings for op `op`; fills p. Returns 0, or fails with a message. */
static int pool_check(const char *op, const Tensor *x, Pool2dOpts o, PoolGeom *p)
{
    char sx[64];
    tensor_shape_str(x, sx, sizeof sx);
    p->kh = o.kernel_h, p->kw = o.kernel_w, p->ph = o.pad_h, p->pw = o.pad_w;
    p->sh = o.stride_h ? o.stride_h : o.kernel_h, p->sw = o.stride_w ? o.stride_w : o.kernel_w;
    if (x->ndim != 4)
        return mvla_fail(MVLA_ERR_ARG, "%s: input %s: expected [N, C, H, W]", op, sx);
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0)
        return mvla_fail(MVLA_ERR_ARG, "%s: kernel %dx%d, stride %dx%d, padding %dx%d: expected kernel and stride >= 1, "
                         "padding >= 0", op, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
    if (2 * p->ph > p->kh || 2 * p->pw > p->kw)
        return mvla_fail(MVLA_ERR_ARG, "%s: padding %dx%d is more than half the kernel %dx%d", op, p->ph, p->pw, p->kh,
                         p->kw);
    p->N = x->shape[0], p->C = x->shape[1], p->H = x->shape[2], p->W = x->shape[3];
    if (p->kh > p->H + 2 * p->ph || p->kw > p->W + 2 * p->pw)
        return mvla_fail(MVLA_ERR_ARG, "%s: kernel %dx%d is larger than the padded input %dx%d (input %s, padding %dx%d)",
                         op, p->kh, p->kw, p->H + 2 * p->ph, p->W + 2 * p->pw, sx, p->ph, p->pw);
    p->Ho = (p->H + 2 * p->ph - p->kh) / p->sh + 1;
    p->Wo = (p->W + 2 * p->pw - p->kw) / p->sw + 1;
    return 0;
}

static void geom_from_node(const Node *n, PoolGeom *p)
{
    const Tensor *x = n->in[0], *y = n->out;
    p->N = x->shape[0], p->C = x->shape[1], p->H = x->shape[2], p->W = x->shape[3];
    p->Ho = y->shape[2], p->Wo = y->shape[3];
    p->kh = n->iarg[0], p->kw = n->iarg[1], p->sh = n->iarg[2], p->sw = n->iarg[3], p->ph = n->iarg[4], p->pw = n->iarg[5];
}

static void geom_to_node(const PoolGeom *p, Node *n)
{
    int v[6] = {p->kh, p->kw, p->sh, p->sw, p->ph, p->pw};
    for (int i = 0; i < 6; i++) n->iarg[i] = v[i];
}

/* Output index o's window along one axis, clipped to the input: [*a, *b). */
static inline void clip_window(int o, int s, int pad, int k, int len, int *a, int *b)
{
    int start = o * s - pad;
    *a = start < 0 ? 0 : start;
    *b = start + k > len ? len : start + k;
}

/* Will graph_record keep a node for an op on x? (Then the op saves what backward needs.) */
static int will_record(const Graph *g, const Tensor *x) { return graph_grad_enabled(g) && x->requires_grad; }

/* ---- max pooling: saved is the argmax (index inside its H*W plane) of every output ---- */

static void maxpool_backward(Graph *g, Node *n)
{
    PoolGeom p;
    geom_from_node(n, &p);
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    const int *idx = n->saved;
    const float *dy = n->out->grad;
    long planes = (long)p.N * p.C, ohw = (long)p.Ho * p.Wo, ihw = (long)p.H * p.W;
#pragma omp parallel for schedule(static) if (planes * ohw > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++)
        for (long i = 0; i < ohw; i++) dx[q * ihw + idx[q * ohw + i]] += dy[q * ohw + i];
}

Tensor *op_maxpool2d(Graph *g, Tensor *x, Pool2dOpts opts)
{
    if (!x) return NULL;
    PoolGeom p;
    if (pool_check("maxpool2d", x, opts, &p)) return NULL;
    Tensor *y = graph_tensor(g, 4, (int[]){p.N, p.C, p.Ho, p.Wo});
    if (!y) return NULL;
    long planes = (long)p.N * p.C, ohw = (long)p.Ho * p.Wo, ihw = (long)p.H * p.W;
    int *idx = NULL;
    if (will_record(g, x) && !(idx = graph_alloc(g, (size_t)(planes * ohw + 1) * sizeof *idx))) return NULL;
#pragma omp parallel for schedule(static) if (planes * ohw * p.kh * p.kw > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        const float *xp = x->data + q * ihw;
        for (int oh = 0; oh < p.Ho; oh++) {
            int h0, h1;
            clip_window(oh, p.sh, p.ph, p.kh, p.H, &h0, &h1);
            for (int ow = 0; ow < p.Wo; ow++) {
                int w0, w1;
                clip_window(ow, p.sw, p.pw, p.kw, p.W, &w0, &w1);
                int best_i = h0 * p.W + w0;
                float best = xp[best_i];
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        float v = xp[h * p.W + w];
                        if (v > best || isnan(v)) best = v, best_i = h * p.W + w;
                    }
                long o = q * ohw + (long)oh * p.Wo + ow;
                y->data[o] = best;
                if (idx) idx[o] = best_i;
            }
        }
    }
    Node *n = graph_record(g, "maxpool2d", maxpool_backward, y, 1, (Tensor *[]){x});
    if (n) geom_to_node(&p, n), n->saved = idx;
    return y;
}

/* ---- average pooling ---- */

/* The divisor of output (oh, ow): the full window (clipped only at the padded edge) or the inside count. */
static inline int avg_divisor(const PoolGeom *p, int oh, int ow, int include_pad)
{
    int hs = oh * p->sh - p->ph, ws = ow * p->sw - p->pw, h0, h1, w0, w1;
    if (include_pad) {
        int he = hs + p->kh > p->H + p->ph ? p->H + p->ph : hs + p->kh;
        int we = ws + p->kw > p->W + p->pw ? p->W + p->pw : ws + p->kw;
        return (he - hs) * (we - ws);
    }
    clip_window(oh, p->sh, p->ph, p->kh, p->H, &h0, &h1);
    clip_window(ow, p->sw, p->pw, p->kw, p->W, &w0, &w1);
    return (h1 - h0) * (w1 - w0);
}

static void avgpool_backward(Graph *g, Node *n)
{
    PoolGeom p;
    geom_from_node(n, &p);
    int include_pad = n->iarg[6];
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    const float *dy = n->out->grad;
    long planes = (long)p.N * p.C, ohw = (long)p.Ho * p.Wo, ihw = (long)p.H * p.W;
#pragma omp parallel for schedule(static) if (planes * ohw * p.kh * p.kw > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        float *dxp = dx + q * ihw;
        for (int oh = 0; oh < p.Ho; oh++) {
            int h0, h1;
            clip_window(oh, p.sh, p.ph, p.kh, p.H, &h0, &h1);
            for (int ow = 0; ow < p.Wo; ow++) {
                int w0, w1;
                clip_window(ow, p.sw, p.pw, p.kw, p.W, &w0, &w1);
                float d = dy[q * ohw + (long)oh * p.Wo + ow] / (float)avg_divisor(&p, oh, ow, include_pad);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dxp[h * p.W + w] += d;
            }
        }
    }
}

Tensor *op_avgpool2d(Graph *g, Tensor *x, Pool2dOpts opts, int count_include_pad)
{
    if (!x) return NULL;
    PoolGeom p;
    if (pool_check("avgpool2d", x, opts, &p)) return NULL;
    Tensor *y = graph_tensor(g, 4, (int[]){p.N, p.C, p.Ho, p.Wo});
    if (!y) return NULL;
    long planes = (long)p.N * p.C, ohw = (long)p.Ho * p.Wo, ihw = (long)p.H * p.W;
    int include_pad = count_include_pad != 0;
#pragma omp parallel for schedule(static) if (planes * ohw * p.kh * p.kw > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        const float *xp = x->data + q * ihw;
        for (int oh = 0; oh < p.Ho; oh++) {
            int h0, h1;
            clip_window(oh, p.sh, p.ph, p.kh, p.H, &h0, &h1);
            for (int ow = 0; ow < p.Wo; ow++) {
                int w0, w1;
                clip_window(ow, p.sw, p.pw, p.kw, p.W, &w0, &w1);
                float sum = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) sum += xp[h * p.W + w];
                y->data[q * ohw + (long)oh * p.Wo + ow] = sum / (float)avg_divisor(&p, oh, ow, include_pad);
            }
        }
    }
    Node *n = graph_record(g, "avgpool2d", avgpool_backward, y, 1, (Tensor *[]){x});
    if (n) geom_to_node(&p, n), n->iarg[6] = include_pad;
    return y;
}

/* ---- global pooling: [N, C, ...] -> [N, C] ---- */

static int global_check(const char *op, const Tensor *x)
{
    char sx[64];
    if (x->ndim < 3 || x->numel == 0)
        return mvla_fail(MVLA_ERR_ARG, "%s: input %s: expected [N, C, H, W] (or [N, C, ...]) with no empty axis", op,
                         tensor_shape_str(x, sx, sizeof sx));
    return 0;
}

static void global_avgpool_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    long planes = n->out->numel, S = x->numel / planes;
    const float *dy = n->out->grad;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        float d = dy[q] / (float)S;
        for (long i = 0; i < S; i++) dx[q * S + i] += d;
    }
}

Tensor *op_global_avgpool(Graph *g, Tensor *x)
{
    if (!x) return NULL;
    if (global_check("global_avgpool", x)) return NULL;
    Tensor *y = graph_tensor(g, 2, x->shape);
    if (!y) return NULL;
    long planes = y->numel, S = x->numel / planes;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        const float *xp = x->data + q * S;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (long i = 0; i < S; i++) sum += xp[i];
        y->data[q] = sum / (float)S;
    }
    graph_record(g, "global_avgpool", global_avgpool_backward, y, 1, (Tensor *[]){x});
    return y;
}

/* saved: the argmax (index inside its plane) per output */
static void global_maxpool_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    long planes = n->out->numel, S = x->numel / planes;
    const long *idx = n->saved;
    for (long q = 0; q < planes; q++) dx[q * S + idx[q]] += n->out->grad[q];
}

Tensor *op_global_maxpool(Graph *g, Tensor *x)
{
    if (!x) return NULL;
    if (global_check("global_maxpool", x)) return NULL;
    Tensor *y = graph_tensor(g, 2, x->shape);
    if (!y) return NULL;
    long planes = y->numel, S = x->numel / planes;
    long *idx = NULL;
    if (will_record(g, x) && !(idx = graph_alloc(g, (size_t)planes * sizeof *idx))) return NULL;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (long q = 0; q < planes; q++) {
        const float *xp = x->data + q * S;
        long best_i = 0;
        float best = xp[0];
        for (long i = 1; i < S; i++)
            if (xp[i] > best || isnan(xp[i])) best = xp[i], best_i = i;
        y->data[q] = best;
        if (idx) idx[q] = best_i;
    }
    Node *n = graph_record(g, "global_maxpool", global_maxpool_backward, y, 1, (Tensor *[]){x});
    if (n) n->saved = idx;
    return y;
}
