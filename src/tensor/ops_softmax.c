#include "tensor/ops_softmax.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdint.h>

/* Rows of the last dimension: x [rows, C]. */
static long rows_of(const Tensor *x, int *cols)
{
    *cols = x->shape[x->ndim - 1];
    return *cols ? x->numel / *cols : 0;
}

static int check_rows(const Tensor *x, const char *name)
{
    if (x->ndim >= 1) return 0;
    mvla_fail(MVLA_ERR_ARG, "%s: input is 0-dimensional, expected [..., C]", name);
    return -1;
}

/* y = softmax(x) (log_y: log_softmax) over each row of C. */
static void softmax_row(const float *x, float *y, int C, int log_y)
{
    float m = -INFINITY;
    for (int c = 0; c < C; c++) m = x[c] > m ? x[c] : m;
    if (m == -INFINITY) m = 0;   /* an all -inf row: keep exp() finite-argument */
    double s = 0;
    for (int c = 0; c < C; c++) {
        y[c] = expf(x[c] - m);
        s += y[c];
    }
    if (log_y) {
        float log_s = (float)log(s);   /* (x - m) - log s keeps precision when |m| is large */
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) - log_s;
    } else {
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

/* softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy). */
static void softmax_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    int C, log_y = n->iarg[0];
    long rows = rows_of(n->out, &C);
    const float *y = n->out->data, *dy = n->out->grad;
#pragma omp parallel for if (rows * C > PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const float *yr = y + r * C, *gr = dy + r * C;
        float *dr = dx + r * C;
        double s = 0;
        if (log_y) {
            for (int c = 0; c < C; c++) s += gr[c];
            for (int c = 0; c < C; c++) dr[c] += gr[c] - expf(yr[c]) * (float)s;
        } else {
            for (int c = 0; c < C; c++) s += (double)gr[c] * yr[c];
            for (int c = 0; c < C; c++) dr[c] += yr[c] * (gr[c] - (float)s);
        }
    }
}

static Tensor *softmax_impl(Graph *g, Tensor *x, int log_y)
{
    const char *name = log_y ? "log_softmax" : "softmax";
    if (!x || check_rows(x, name)) return NULL;
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    if (!y) return NULL;
    int C;
    long rows = rows_of(x, &C);
#pragma omp parallel for if (rows * C > PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) softmax_row(x->data + r * C, y->data + r * C, C, log_y);
    Node *n = graph_record(g, name, softmax_backward, y, 1, &x);
    if (n) n->iarg[0] = log_y;
    return y;
}

Tensor *op_softmax(Graph *g, Tensor *x) { return softmax_impl(g, x, 0); }
Tensor *op_log_softmax(Graph *g, Tensor *x) { return softmax_impl(g, x, 1); }

/* ---- dropout: saved is the keep mask (one byte per element), farg[0] the survivors' scale ---- */

static void dropout_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    const uint8_t *keep = n->saved;
    const float *dy = n->out->grad;
    float scale = n->farg[0];
    long numel = n->out->numel;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long i = 0; i < numel; i++) dx[i] += keep[i] ? dy[i] * scale : 0.0f;
}

Tensor *op_dropout(Graph *g, Tensor *x, float p, int training, Rng *rng)
{
    if (!x) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        mvla_fail(MVLA_ERR_ARG, "dropout: probability %g, expected 0 <= p <= 1", (double)p);
        return NULL;
    }
    if (!training || p == 0.0f) return x;
    if (!rng) {
        mvla_fail(MVLA_ERR_ARG, "dropout: training with p = %g needs an Rng", (double)p);
        return NULL;
    }
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    if (!y) return NULL;
    int need_mask = graph_grad_enabled(g) && x->requires_grad;
    uint8_t *keep = need_mask ? graph_alloc(g, (size_t)(x->numel ? x->numel : 1)) : NULL;
    if (need_mask && !keep) return NULL;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < x->numel; i++) {   /* serial: the mask follows the rng stream in order */
        int k = rng_uniform(rng) >= p;
        if (keep) keep[i] = (uint8_t)k;
        y->data[i] = k ? x->data[i] * scale : 0.0f;
    }
    Node *n = graph_record(g, "dropout", dropout_backward, y, 1, &x);
    if (n) {
        n->saved = keep;
        n->farg[0] = scale;
    }
    return y;
}
