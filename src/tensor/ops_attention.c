#include "tensor/ops_attention.h"

#include "base/error.h"
#include "tensor/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

/* Sizes of one attention call; iarg holds them for backward. */
typedef struct {
    int B, Tq, Tk, H, hd, hdv;
} AttnDims;

static void pack(Node *n, const AttnDims *d)
{
    n->iarg[0] = d->B, n->iarg[1] = d->Tq, n->iarg[2] = d->Tk;
    n->iarg[3] = d->H, n->iarg[4] = d->hd, n->iarg[5] = d->hdv;
}

static AttnDims unpack(const Node *n)
{
    return (AttnDims){n->iarg[0], n->iarg[1], n->iarg[2], n->iarg[3], n->iarg[4], n->iarg[5]};
}

/* Enough multiply-adds to be worth a thread team. */
static int worth_threads(const AttnDims *d)
{
    return (double)d->B * d->H * d->Tq * d->Tk * (d->hd + d->hdv) > 1e5;
}

/* Row i of S [Tq, Tk] (scores) becomes probabilities in place; masked keys get 0, and a row
 * with every key masked is all zeros. */
static void masked_softmax(float *S, int Tq, int Tk, int causal, const unsigned char *pad)
{
    for (int i = 0; i < Tq; i++) {
        float *row = S + (long)i * Tk;
        int last = causal ? i + (Tk - Tq) : Tk - 1; /* last visible key */
        if (last > Tk - 1) last = Tk - 1;
        float mx = -INFINITY;
        for (int j = 0; j <= last; j++)
            if (!(pad && pad[j]) && row[j] > mx) mx = row[j];
        if (mx == -INFINITY) { /* nothing visible */
            for (int j = 0; j < Tk; j++) row[j] = 0;
            continue;
        }
        double sum = 0;
        for (int j = 0; j < Tk; j++) {
            float p = (j <= last && !(pad && pad[j])) ? expf(row[j] - mx) : 0.0f;
            row[j] = p;
            sum += p;
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j <= last; j++) row[j] *= inv;
    }
}

/* Per (b, h), with Q, K, V, O the head's strided slices and P the saved probabilities:
 *   dV += P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));
 *   dQ += scale * dS K;  dK += scale * dS^T Q.
 * Different (b, h) write disjoint slices of dQ, dK, dV, so the loop runs in parallel. */
static void attention_backward(Graph *g, Node *n)
{
    AttnDims d = unpack(n);
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    const float *P = n->saved, *dout = n->out->grad;
    float scale = n->farg[0];
    float *dq = graph_grad(g, q), *dk = graph_grad(g, k), *dv = graph_grad(g, v);
    long D = (long)d.H * d.hd, Dv = (long)d.H * d.hdv, plane = (long)d.Tq * d.Tk;
    float *dS_all = (dq || dk) ? graph_alloc(g, (size_t)(d.B * d.H * plane) * sizeof(float)) : NULL;
    if ((dq || dk) && !dS_all) return; /* out of memory: the message is set */
    int bh_count = d.B * d.H;
#pragma omp parallel for schedule(static) if (worth_threads(&d))
    for (int bh = 0; bh < bh_count; bh++) {
        int b = bh / d.H, h = bh % d.H;
        long qo = (long)b * d.Tq * D + (long)h * d.hd, ko = (long)b * d.Tk * D + (long)h * d.hd;
        long vo = (long)b * d.Tk * Dv + (long)h * d.hdv, oo = (long)b * d.Tq * Dv + (long)h * d.hdv;
        const float *Pb = P + bh * plane, *dO = dout + oo;
        if (dv) gemm(1, 0, d.Tk, d.hdv, d.Tq, 1, Pb, d.Tk, dO, (int)Dv, 1, dv + vo, (int)Dv);
        if (!dS_all) continue;
        float *dS = dS_all + bh * plane;
        gemm(0, 1, d.Tq, d.Tk, d.hdv, 1, dO, (int)Dv, v->data + vo, (int)Dv, 0, dS, d.Tk);
        for (int i = 0; i < d.Tq; i++) {
            float *r = dS + (long)i * d.Tk;
            const float *p = Pb + (long)i * d.Tk;
            double dot = 0;
            for (int j = 0; j < d.Tk; j++) dot += (double)r[j] * p[j];
            for (int j = 0; j < d.Tk; j++) r[j] = p[j] * (r[j] - (float)dot);
        }
        if (dq) gemm(0, 0, d.Tq, d.hd, d.Tk, scale, dS, d.Tk, k->data + ko, (int)D, 1, dq + qo, (int)D);
        if (dk) gemm(1, 0, d.Tk, d.hd, d.Tq, scale, dS, d.Tk, q->data + qo, (int)D, 1, dk + ko, (int)D);
    }
}

static int check_shapes(const Tensor *q, const Tensor *k, const Tensor *v, int n_heads)
{
    char sq[64], sk[64], sv[64];
    int ok = q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && n_heads > 0;
    ok = ok && k->shape[0] == q->shape[0] && v->shape[0] == q->shape[0]; /* batch */
    ok = ok && k->shape[2] == q->shape[2] && v->shape[1] == k->shape[1];
    ok = ok && q->shape[2] % n_heads == 0 && v->shape[2] % n_heads == 0;
    ok = ok && q->shape[0] > 0 && q->shape[1] > 0 && k->shape[1] > 0 && q->shape[2] > 0 && v->shape[2] > 0;
    if (ok) return MVLA_OK;
    return mvla_fail(MVLA_ERR_ARG,
                     "attention: q %s, k %s, v %s with %d heads: expected q [B,Tq,D], k [B,Tk,D], v [B,Tk,Dv], "
                     "all sizes > 0, D and Dv divisible by the number of heads",
                     tensor_shape_str(q, sq, sizeof sq), tensor_shape_str(k, sk, sizeof sk),
                     tensor_shape_str(v, sv, sizeof sv), n_heads);
}

Tensor *op_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, int n_heads, int causal,
                     const unsigned char *key_padding, float scale)
{
    if (!q || !k || !v) return NULL;
    if (check_shapes(q, k, v, n_heads)) return NULL;
    AttnDims d = {q->shape[0], q->shape[1], k->shape[1], n_heads, q->shape[2] / n_heads, v->shape[2] / n_heads};
    if (scale <= 0) scale = 1.0f / sqrtf((float)d.hd);
    long D = (long)d.H * d.hd, Dv = (long)d.H * d.hdv, plane = (long)d.Tq * d.Tk;
    Tensor *out = graph_tensor(g, 3, (int[]){d.B, d.Tq, (int)Dv});
    if (!out) return NULL;

    /* Probabilities: kept in the arena for backward when a node will be recorded, else one
     * scratch plane per thread. */
    int save = graph_grad_enabled(g) && (q->requires_grad || k->requires_grad || v->requires_grad);
    int threads = omp_get_max_threads();
    float *P = graph_alloc(g, (size_t)((save ? d.B * d.H : threads) * plane) * sizeof(float));
    if (!P) return NULL;
    int bh_count = d.B * d.H;
#pragma omp parallel for schedule(static) if (worth_threads(&d))
    for (int bh = 0; bh < bh_count; bh++) {
        int b = bh / d.H, h = bh % d.H;
        float *S = P + (save ? bh : omp_get_thread_num()) * plane;
        long qo = (long)b * d.Tq * D + (long)h * d.hd, ko = (long)b * d.Tk * D + (long)h * d.hd;
        long vo = (long)b * d.Tk * Dv + (long)h * d.hdv, oo = (long)b * d.Tq * Dv + (long)h * d.hdv;
        gemm(0, 1, d.Tq, d.Tk, d.hd, scale, q->data + qo, (int)D, k->data + ko, (int)D, 0, S, d.Tk);
        masked_softmax(S, d.Tq, d.Tk, causal, key_padding ? key_padding + (long)b * d.Tk : NULL);
        gemm(0, 0, d.Tq, d.hdv, d.Tk, 1, S, d.Tk, v->data + vo, (int)Dv, 0, out->data + oo, (int)Dv);
    }

    Node *n = graph_record(g, "attention", attention_backward, out, 3, (Tensor *[]){q, k, v});
    if (n) {
        pack(n, &d);
        n->farg[0] = scale;
        n->saved = P;
    }
    return out;
}
