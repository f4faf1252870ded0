#include "tensor/ops_linear.h"

#include "base/error.h"
#include "tensor/gemm.h"

#include <stdio.h>

/* Shapes of one matmul: a batch of `batch` products op(A)[M,K] op(B)[K,N]. */
typedef struct {
    int batch, M, N, K, ta, tb, b_shared;
} MatmulDims;

static void unpack(const Node *n, MatmulDims *d)
{
    d->batch = n->iarg[0], d->M = n->iarg[1], d->N = n->iarg[2], d->K = n->iarg[3];
    d->ta = n->iarg[4], d->tb = n->iarg[5], d->b_shared = n->iarg[6];
}

/* dA' = dC B'^T and dB' = A'^T dC, written for the stored (possibly transposed) layouts. */
static void matmul_backward(Graph *g, Node *n)
{
    MatmulDims d;
    unpack(n, &d);
    Tensor *a = n->in[0], *b = n->in[1];
    const float *dc = n->out->grad;
    float *da = graph_grad(g, a), *db = graph_grad(g, b);
    int lda = d.ta ? d.M : d.K, ldb = d.tb ? d.K : d.N;
    long sa = (long)d.M * d.K, sb = d.b_shared ? 0 : (long)d.K * d.N, sc = (long)d.M * d.N;
    for (int i = 0; i < d.batch; i++) {
        const float *A = a->data + i * sa, *B = b->data + i * sb, *dC = dc + i * sc;
        if (da) {
            if (!d.ta) gemm(0, !d.tb, d.M, d.K, d.N, 1, dC, d.N, B, ldb, 1, da + i * sa, d.K);
            else gemm(d.tb, 1, d.K, d.M, d.N, 1, B, ldb, dC, d.N, 1, da + i * sa, d.M);
        }
        if (db) {
            if (!d.tb) gemm(!d.ta, 0, d.K, d.N, d.M, 1, A, lda, dC, d.N, 1, db + i * sb, d.N);
            else gemm(1, d.ta, d.N, d.K, d.M, 1, dC, d.N, A, lda, 1, db + i * sb, d.K);
        }
    }
}

Tensor *op_matmul(Graph *g, Tensor *a, Tensor *b, int trans_a, int trans_b)
{
    if (!a || !b) return NULL;
    char sa[64], sb[64];
    if (a->ndim < 2 || b->ndim < 2) {
        mvla_fail(MVLA_ERR_ARG, "matmul: operands %s and %s must have at least 2 dimensions",
                  tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    MatmulDims d = {0};
    d.ta = trans_a, d.tb = trans_b;
    d.M = a->shape[a->ndim - (trans_a ? 1 : 2)];
    d.K = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int kb = b->shape[b->ndim - (trans_b ? 1 : 2)];
    d.N = b->shape[b->ndim - (trans_b ? 2 : 1)];
    d.b_shared = b->ndim == 2;
    int batch_ok = d.b_shared || a->ndim == b->ndim;
    for (int i = 0; batch_ok && !d.b_shared && i < a->ndim - 2; i++) batch_ok = a->shape[i] == b->shape[i];
    if (kb != d.K || !batch_ok) {
        mvla_fail(MVLA_ERR_ARG, "matmul: shapes %s%s and %s%s do not match (inner %d vs %d, batch dims must be equal "
                  "or the second operand 2-D)", tensor_shape_str(a, sa, sizeof sa), trans_a ? "^T" : "",
                  tensor_shape_str(b, sb, sizeof sb), trans_b ? "^T" : "", d.K, kb);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
    shape[a->ndim - 2] = d.M;
    shape[a->ndim - 1] = d.N;
    d.batch = (int)shape_numel(a->ndim - 2, a->shape);
    /* A shared B with an untransposed A is one tall GEMM over every batch row. */
    if (d.b_shared && !d.ta) {
        d.M *= d.batch;
        d.batch = 1;
    }
    Tensor *c = graph_tensor(g, a->ndim, shape);
    if (!c) return NULL;
    int lda = d.ta ? d.M : d.K, ldb = d.tb ? d.K : d.N;
    long stride_a = (long)d.M * d.K, stride_b = d.b_shared ? 0 : (long)d.K * d.N, stride_c = (long)d.M * d.N;
    for (int i = 0; i < d.batch; i++)
        gemm(d.ta, d.tb, d.M, d.N, d.K, 1, a->data + i * stride_a, lda, b->data + i * stride_b, ldb, 0,
             c->data + i * stride_c, d.N);
    Node *n = graph_record(g, "matmul", matmul_backward, c, 2, (Tensor *[]){a, b});
    if (n) {
        int v[7] = {d.batch, d.M, d.N, d.K, d.ta, d.tb, d.b_shared};
        for (int i = 0; i < 7; i++) n->iarg[i] = v[i];
    }
    return c;
}

static void linear_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2];
    int rows = n->iarg[0], in = n->iarg[1], out = n->iarg[2];
    const float *dy = n->out->grad;
    float *dx = graph_grad(g, x), *dw = graph_grad(g, w), *db = graph_grad(g, bias);
    if (dx) gemm(0, 0, rows, in, out, 1, dy, out, w->data, in, 1, dx, in);       /* dx = dy W */
    if (dw) gemm(1, 0, out, in, rows, 1, dy, out, x->data, in, 1, dw, in);       /* dW = dy^T x */
    if (db)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) db[o] += dy[(long)r * out + o];
}

Tensor *op_linear(Graph *g, Tensor *x, Tensor *w, Tensor *bias)
{
    if (!x || !w) return NULL;
    char sx[64], sw[64];
    int in = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || w->ndim != 2 || w->shape[1] != in || (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))) {
        mvla_fail(MVLA_ERR_ARG, "linear: input %s, weight %s%s: expected input [..., in], weight [out, in], bias [out]",
                  tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(w, sw, sizeof sw), bias ? " and a bias" : "");
        return NULL;
    }
    int out = w->shape[0];
    int rows = (int)(x->numel / (in ? in : 1));
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = out;
    Tensor *y = graph_tensor(g, x->ndim, shape);
    if (!y) return NULL;
    if (bias)
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) y->data[(long)r * out + o] = bias->data[o];
    gemm(0, 1, rows, out, in, 1, x->data, in, w->data, in, bias ? 1 : 0, y->data, out);
    Node *n = graph_record(g, "linear", linear_backward, y, 3, (Tensor *[]){x, w, bias});
    if (n) n->iarg[0] = rows, n->iarg[1] = in, n->iarg[2] = out;
    return y;
}
