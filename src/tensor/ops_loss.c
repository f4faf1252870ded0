#include "tensor/ops_loss.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- regression losses ---- */

typedef enum { LOSS_MSE, LOSS_L1, LOSS_HUBER } RegLoss;
static const char *const reg_names[] = {"mse_loss", "l1_loss", "huber_loss"};

static inline float reg_value(RegLoss k, float d, float delta)
{
    float a = fabsf(d);
    switch (k) {
    case LOSS_MSE: return d * d;
    case LOSS_L1: return a;
    default: return a <= delta ? 0.5f * d * d : delta * (a - 0.5f * delta);
    }
}

/* d(loss)/d(pred) for one element. */
static inline float reg_slope(RegLoss k, float d, float delta)
{
    switch (k) {
    case LOSS_MSE: return 2.0f * d;
    case LOSS_L1: return (float)((d > 0) - (d < 0));
    default: return d > delta ? delta : d < -delta ? -delta : d;
    }
}

/* Node: in = {pred, target}, saved = mask (or NULL), iarg[0] kind, farg[0] delta,
 * farg[1] 1 / sum of the weights (0 if it is 0). */
static void reg_backward(Graph *g, Node *n)
{
    Tensor *pred = n->in[0], *target = n->in[1];
    const Tensor *mask = n->saved;
    float *dp = graph_grad(g, pred), *dt = graph_grad(g, target);
    RegLoss k = (RegLoss)n->iarg[0];
    float delta = n->farg[0], scale = n->farg[1] * n->out->grad[0];
    long numel = pred->numel, inner = mask && mask->numel ? numel / mask->numel : 1;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long i = 0; i < numel; i++) {
        float w = mask ? mask->data[i / inner] : 1.0f;
        float gr = scale * w * reg_slope(k, pred->data[i] - target->data[i], delta);
        if (dp) dp[i] += gr;
        if (dt) dt[i] -= gr;
    }
}

static Tensor *reg_loss(Graph *g, RegLoss k, Tensor *pred, Tensor *target, Tensor *mask, float delta)
{
    const char *name = reg_names[k];
    if (!pred || !target) return NULL;
    char sp[64], st[64], sm[64];
    if (!tensor_same_shape(pred, target)) {
        mvla_fail(MVLA_ERR_ARG, "%s: prediction %s and target %s: expected the same shape", name,
                  tensor_shape_str(pred, sp, sizeof sp), tensor_shape_str(target, st, sizeof st));
        return NULL;
    }
    if (pred->numel == 0) {
        mvla_fail(MVLA_ERR_ARG, "%s: prediction %s is empty", name, tensor_shape_str(pred, sp, sizeof sp));
        return NULL;
    }
    if (k == LOSS_HUBER && !(delta > 0)) {
        mvla_fail(MVLA_ERR_ARG, "%s: delta %g, expected > 0", name, (double)delta);
        return NULL;
    }
    if (mask) {
        int prefix = mask->ndim <= pred->ndim && mask->numel > 0;
        for (int i = 0; prefix && i < mask->ndim; i++) prefix = mask->shape[i] == pred->shape[i];
        if (!prefix) {
            mvla_fail(MVLA_ERR_ARG, "%s: mask %s does not fit prediction %s: expected the leading dimensions of the "
                      "prediction", name, tensor_shape_str(mask, sm, sizeof sm), tensor_shape_str(pred, sp, sizeof sp));
            return NULL;
        }
    }
    long numel = pred->numel, inner = mask ? numel / mask->numel : 1;
    double total = 0, weight = 0;
#pragma omp parallel for reduction(+ : total) if (numel > PAR_MIN_WORK)
    for (long i = 0; i < numel; i++) {
        float w = mask ? mask->data[i / inner] : 1.0f;
        total += (double)w * reg_value(k, pred->data[i] - target->data[i], delta);
    }
    if (mask)
        for (long j = 0; j < mask->numel; j++) weight += (double)mask->data[j] * inner;
    else
        weight = (double)numel;
    double inv = weight != 0 ? 1.0 / weight : 0.0;
    Tensor *y = graph_tensor(g, 0, NULL);
    if (!y) return NULL;
    y->data[0] = (float)(total * inv);
    Node *n = graph_record(g, name, reg_backward, y, 2, (Tensor *[]){pred, target});
    if (n) {
        n->saved = mask;
        n->iarg[0] = (int)k;
        n->farg[0] = delta;
        n->farg[1] = (float)inv;
    }
    return y;
}

Tensor *op_mse_loss(Graph *g, Tensor *pred, Tensor *target) { return reg_loss(g, LOSS_MSE, pred, target, NULL, 0); }
Tensor *op_l1_loss(Graph *g, Tensor *pred, Tensor *target) { return reg_loss(g, LOSS_L1, pred, target, NULL, 0); }
Tensor *op_huber_loss(Graph *g, Tensor *pred, Tensor *target, float delta)
{
    return reg_loss(g, LOSS_HUBER, pred, target, NULL, delta);
}

static Tensor *masked(Graph *g, RegLoss k, Tensor *pred, Tensor *target, Tensor *mask, float delta)
{
    if (!mask) {
        mvla_fail(MVLA_ERR_ARG, "%s_masked: no mask", reg_names[k]);
        return NULL;
    }
    return reg_loss(g, k, pred, target, mask, delta);
}

Tensor *op_mse_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask)
{
    return masked(g, LOSS_MSE, pred, target, mask, 0);
}
Tensor *op_l1_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask)
{
    return masked(g, LOSS_L1, pred, target, mask, 0);
}
Tensor *op_huber_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask, float delta)
{
    return masked(g, LOSS_HUBER, pred, target, mask, delta);
}

/* ---- cross-entropy ----
 * log softmax(x)[c] = (x[c] - m) - log s with m the row maximum and s = sum exp(x - m).
 * Node: in = {logits}, saved = per row {m, log s} [N, 2], saved2 = targets [N],
 * iarg[0] ignore_index, farg[0] 1 / number of counted rows (0 if none). */

static void ce_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    const float *ms = n->saved;
    const int *t = n->saved2;
    int N = x->shape[0], C = x->shape[1], ignore = n->iarg[0];
    float scale = n->farg[0] * n->out->grad[0];
#pragma omp parallel for if ((long)N * C > PAR_MIN_WORK)
    for (int r = 0; r < N; r++) {
        if (t[r] == ignore) continue;
        const float *xr = x->data + (long)r * C;
        float *dr = dx + (long)r * C;
        float m = ms[2 * r], log_s = ms[2 * r + 1];
        for (int c = 0; c < C; c++) dr[c] += scale * expf((xr[c] - m) - log_s);
        dr[t[r]] -= scale;
    }
}

Tensor *op_cross_entropy(Graph *g, Tensor *logits, const int *targets, int ignore_index)
{
    if (!logits) return NULL;
    char sx[64];
    if (logits->ndim != 2 || logits->shape[1] < 1) {
        mvla_fail(MVLA_ERR_ARG, "cross_entropy: logits %s, expected [N, C] with C >= 1",
                  tensor_shape_str(logits, sx, sizeof sx));
        return NULL;
    }
    int N = logits->shape[0], C = logits->shape[1];
    if (N > 0 && !targets) {
        mvla_fail(MVLA_ERR_ARG, "cross_entropy: logits %s but no targets", tensor_shape_str(logits, sx, sizeof sx));
        return NULL;
    }
    int count = 0;
    for (int r = 0; r < N; r++) {
        if (targets[r] == ignore_index) continue;
        if (targets[r] < 0 || targets[r] >= C) {
            mvla_fail(MVLA_ERR_ARG, "cross_entropy: target[%d] = %d, expected a class id in 0..%d or ignore_index %d",
                      r, targets[r], C - 1, ignore_index);
            return NULL;
        }
        count++;
    }
    Tensor *y = graph_tensor(g, 0, NULL);
    float *ms = graph_alloc(g, (size_t)(N ? 2 * N : 1) * sizeof *ms);
    if (!y || !ms) return NULL;
    double total = 0;
#pragma omp parallel for reduction(+ : total) if ((long)N * C > PAR_MIN_WORK)
    for (int r = 0; r < N; r++) {
        const float *xr = logits->data + (long)r * C;
        float m = xr[0];
        for (int c = 1; c < C; c++) m = xr[c] > m ? xr[c] : m;
        double s = 0;
        for (int c = 0; c < C; c++) s += expf(xr[c] - m);
        ms[2 * r] = m;
        ms[2 * r + 1] = (float)log(s);
        if (targets[r] != ignore_index) total += ((double)m - xr[targets[r]]) + log(s);
    }
    double inv = count ? 1.0 / count : 0.0;
    y->data[0] = (float)(total * inv);
    int *t = NULL;
    if (graph_grad_enabled(g) && logits->requires_grad) {
        if (!(t = graph_alloc(g, (size_t)(N ? N : 1) * sizeof *t))) return NULL;
        if (N) memcpy(t, targets, (size_t)N * sizeof *t);
    }
    Node *n = graph_record(g, "cross_entropy", ce_backward, y, 1, &logits);
    if (n) {
        n->saved = ms;
        n->saved2 = t;
        n->iarg[0] = ignore_index;
        n->farg[0] = (float)inv;
    }
    return y;
}
