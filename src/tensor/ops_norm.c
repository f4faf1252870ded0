#include "tensor/ops_norm.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdio.h>

/* 1 if t is NULL (when allowed) or a 1-D tensor of n elements. */
static int is_vec(const Tensor *t, int n, int may_be_null)
{
    return t ? t->ndim == 1 && t->shape[0] == n : may_be_null;
}

/* ---- batch norm ----
 * Per channel c, over the M = N * S values x[n, c, s]: y = (x - mean) * invstd * gamma + beta.
 * saved: mean[C] then invstd[C] (batch statistics in training, running ones in eval). */

static void batchnorm_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    int N = x->shape[0], C = x->shape[1], training = n->iarg[0];
    long S = x->numel / ((long)N * C), M = (long)N * S;
    const float *mean = n->saved, *invstd = mean + C, *dy = n->out->grad;
    float *dx = graph_grad(g, x), *dgamma = graph_grad(g, gamma), *dbeta = graph_grad(g, beta);
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int b = 0; b < N; b++) {
            const float *xp = x->data + ((long)b * C + c) * S, *dp = dy + ((long)b * C + c) * S;
            float s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
            for (long i = 0; i < S; i++) s1 += dp[i], s2 += dp[i] * (xp[i] - mean[c]);
            sum_dy += s1, sum_dy_xhat += (double)s2 * invstd[c];
        }
        if (dgamma) dgamma[c] += (float)sum_dy_xhat;
        if (dbeta) dbeta[c] += (float)sum_dy;
        if (!dx) continue;
        /* training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: gamma * invstd * dy */
        float k = (gamma ? gamma->data[c] : 1.0f) * invstd[c];
        float a = training ? (float)(sum_dy / M) : 0.0f, bq = training ? (float)(sum_dy_xhat / M) * invstd[c] : 0.0f;
        for (int b = 0; b < N; b++) {
            const float *xp = x->data + ((long)b * C + c) * S, *dp = dy + ((long)b * C + c) * S;
            float *gp = dx + ((long)b * C + c) * S;
#pragma omp simd
            for (long i = 0; i < S; i++) gp[i] += k * (dp[i] - a - (xp[i] - mean[c]) * bq);
        }
    }
}

/* Batch mean and biased variance of channel c, in double over float partial sums per plane. */
static void channel_stats(const Tensor *x, int c, double *mean, double *var)
{
    int N = x->shape[0], C = x->shape[1];
    long S = x->numel / ((long)N * C);
    double sum = 0, sq = 0;
    for (int b = 0; b < N; b++) {
        const float *xp = x->data + ((long)b * C + c) * S;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (long i = 0; i < S; i++) s += xp[i];
        sum += s;
    }
    *mean = sum / ((double)N * S);
    float m = (float)*mean;
    for (int b = 0; b < N; b++) {
        const float *xp = x->data + ((long)b * C + c) * S;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (long i = 0; i < S; i++) s += (xp[i] - m) * (xp[i] - m);
        sq += s;
    }
    *var = sq / ((double)N * S);
}

static int batchnorm_check(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *rm,
                           const Tensor *rv, int training)
{
    char sx[64];
    tensor_shape_str(x, sx, sizeof sx);
    if (x->ndim < 2)
        return mvla_fail(MVLA_ERR_ARG, "batchnorm: input %s: expected [N, C, ...] (e.g. [N, C, H, W])", sx);
    int C = x->shape[1];
    const Tensor *vec[4] = {gamma, beta, rm, rv};
    const char *names[4] = {"gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        if (!is_vec(vec[i], C, 1)) {
            char sv[64];
            return mvla_fail(MVLA_ERR_ARG, "batchnorm: %s %s for input %s: expected [%d] (one per channel)",
                             names[i], tensor_shape_str(vec[i], sv, sizeof sv), sx, C);
        }
    if (!training && (!rm || !rv))
        return mvla_fail(MVLA_ERR_ARG, "batchnorm: eval mode needs running_mean and running_var (input %s)", sx);
    if ((rm == NULL) != (rv == NULL))
        return mvla_fail(MVLA_ERR_ARG, "batchnorm: give both running_mean and running_var, or neither");
    long per_channel = C ? x->numel / C : 0;
    if (training && per_channel < 2)
        return mvla_fail(MVLA_ERR_ARG, "batchnorm: input %s has %ld value(s) per channel; training needs more "
                         "than 1", sx, per_channel);
    return 0;
}

Tensor *op_batchnorm2d(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, Tensor *running_mean,
                       Tensor *running_var, float momentum, float eps, int training)
{
    if (!x) return NULL;
    if (batchnorm_check(x, gamma, beta, running_mean, running_var, training)) return NULL;
    int N = x->shape[0], C = x->shape[1];
    long S = C && N ? x->numel / ((long)N * C) : 0, M = (long)N * S;
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    float *stats = graph_alloc(g, (size_t)(2 * C + 1) * sizeof *stats);
    if (!y || !stats) return NULL;
    float *mean = stats, *invstd = stats + C;
#pragma omp parallel for schedule(static) if (training && x->numel > PAR_MIN_WORK)
    for (int c = 0; c < C; c++) {
        double m, v;
        if (training) {
            channel_stats(x, c, &m, &v);
            if (running_mean) {
                float *rm = running_mean->data + c, *rv = running_var->data + c;
                *rm = (float)((1.0 - momentum) * *rm + momentum * m);
                *rv = (float)((1.0 - momentum) * *rv + momentum * v * M / (M - 1));
            }
        } else {
            m = running_mean->data[c], v = running_var->data[c];
        }
        mean[c] = (float)m;
        invstd[c] = (float)(1.0 / sqrt(v + eps));
    }
    long planes = (long)N * C;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (long p = 0; p < planes; p++) {
        int c = (int)(p % C);
        float scale = invstd[c] * (gamma ? gamma->data[c] : 1.0f);
        float shift = (beta ? beta->data[c] : 0.0f) - mean[c] * scale;
        const float *xp = x->data + p * S;
        float *yp = y->data + p * S;
#pragma omp simd
        for (long i = 0; i < S; i++) yp[i] = xp[i] * scale + shift;
    }
    Node *n = graph_record(g, "batchnorm2d", batchnorm_backward, y, 3, (Tensor *[]){x, gamma, beta});
    if (n) n->iarg[0] = training != 0, n->saved = stats;
    return y;
}

/* ---- layer norm ----
 * Per row r of x viewed as [rows, D]: y = (x - mean) * rstd * gamma + beta. saved: mean[rows], rstd[rows]. */

static void layernorm_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    int D = n->iarg[0];
    long rows = x->numel / D;
    const float *mean = n->saved, *rstd = mean + rows, *dy = n->out->grad;
    float *dx = graph_grad(g, x), *dgamma = graph_grad(g, gamma), *dbeta = graph_grad(g, beta);
    const float *gm = gamma ? gamma->data : NULL;
    if (dx) {
        /* dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = dy * gamma */
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
        for (long r = 0; r < rows; r++) {
            const float *xr = x->data + r * D, *dr = dy + r * D;
            float m = mean[r], s = rstd[r], a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
            for (int d = 0; d < D; d++) {
                float gx = dr[d] * (gm ? gm[d] : 1.0f);
                a += gx, b += gx * (xr[d] - m) * s;
            }
            a /= D, b /= D;
            float *gr = dx + r * D;
#pragma omp simd
            for (int d = 0; d < D; d++) gr[d] += s * (dr[d] * (gm ? gm[d] : 1.0f) - a - (xr[d] - m) * s * b);
        }
    }
    if (dgamma || dbeta) {
        /* Column blocks per thread, so each gradient element has one writer. */
        enum { BLOCK = 64 };
        int blocks = (D + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
        for (int blk = 0; blk < blocks; blk++) {
            int d0 = blk * BLOCK, d1 = d0 + BLOCK < D ? d0 + BLOCK : D;
            for (long r = 0; r < rows; r++) {
                const float *xr = x->data + r * D, *dr = dy + r * D;
                float m = mean[r], s = rstd[r];
                if (dgamma)
#pragma omp simd
                    for (int d = d0; d < d1; d++) dgamma[d] += dr[d] * (xr[d] - m) * s;
                if (dbeta)
#pragma omp simd
                    for (int d = d0; d < d1; d++) dbeta[d] += dr[d];
            }
        }
    }
}

Tensor *op_layernorm(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, float eps)
{
    if (!x) return NULL;
    char sx[64], sv[64];
    int D = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || D < 1) {
        mvla_fail(MVLA_ERR_ARG, "layernorm: input %s: expected [..., D] with D >= 1", tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (!is_vec(gamma, D, 1) || !is_vec(beta, D, 1)) {
        const Tensor *bad = is_vec(gamma, D, 1) ? beta : gamma;
        mvla_fail(MVLA_ERR_ARG, "layernorm: %s %s for input %s: expected [%d] (the last dimension)",
                  bad == gamma ? "gamma" : "beta", tensor_shape_str(bad, sv, sizeof sv),
                  tensor_shape_str(x, sx, sizeof sx), D);
        return NULL;
    }
    long rows = x->numel / D;
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    float *stats = graph_alloc(g, (size_t)(2 * rows + 1) * sizeof *stats);
    if (!y || !stats) return NULL;
    float *mean = stats, *rstd = stats + rows;
    const float *gm = gamma ? gamma->data : NULL, *bt = beta ? beta->data : NULL;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + r * D;
        float *yr = y->data + r * D, sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
        for (int d = 0; d < D; d++) sum += xr[d];
        float m = sum / D;
#pragma omp simd reduction(+ : sq)
        for (int d = 0; d < D; d++) sq += (xr[d] - m) * (xr[d] - m);
        float s = 1.0f / sqrtf(sq / D + eps);
        mean[r] = m, rstd[r] = s;
#pragma omp simd
        for (int d = 0; d < D; d++) yr[d] = (xr[d] - m) * s * (gm ? gm[d] : 1.0f) + (bt ? bt[d] : 0.0f);
    }
    Node *n = graph_record(g, "layernorm", layernorm_backward, y, 3, (Tensor *[]){x, gamma, beta});
    if (n) n->iarg[0] = D, n->saved = stats;
    return y;
}

/* ---- folding ---- */

int bn_fold_into_conv(Tensor *conv_w, Tensor **conv_b, const Tensor *gamma, const Tensor *beta,
                      const Tensor *running_mean, const Tensor *running_var, float eps)
{
    if (!conv_w || !conv_b || !running_mean || !running_var)
        return mvla_fail(MVLA_ERR_ARG, "bn_fold_into_conv: weight, bias slot, running_mean and running_var are "
                         "required");
    char sw[64], sv[64];
    tensor_shape_str(conv_w, sw, sizeof sw);
    if (conv_w->ndim < 1)
        return mvla_fail(MVLA_ERR_ARG, "bn_fold_into_conv: weight %s: expected [Cout, ...]", sw);
    int C = conv_w->shape[0];
    const Tensor *vec[5] = {*conv_b, gamma, beta, running_mean, running_var};
    const char *names[5] = {"bias", "gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 5; i++)
        if (!is_vec(vec[i], C, 1))
            return mvla_fail(MVLA_ERR_ARG, "bn_fold_into_conv: %s %s for weight %s: expected [%d]", names[i],
                             tensor_shape_str(vec[i], sv, sizeof sv), sw, C);
    Tensor *b = *conv_b ? *conv_b : tensor_new_shape(1, C);
    if (!b) return mvla_fail(MVLA_ERR_NOMEM, "bn_fold_into_conv: out of memory for a bias of %d", C);
    long per = C ? conv_w->numel / C : 0;
    for (int o = 0; o < C; o++) {
        double s = (gamma ? gamma->data[o] : 1.0) / sqrt((double)running_var->data[o] + eps);
        for (long i = 0; i < per; i++) conv_w->data[o * per + i] = (float)(conv_w->data[o * per + i] * s);
        b->data[o] = (float)(((double)b->data[o] - running_mean->data[o]) * s + (beta ? beta->data[o] : 0.0));
    }
    *conv_b = b;
    return MVLA_OK;
}
