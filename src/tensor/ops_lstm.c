#include "tensor/ops_lstm.h"

#include "base/error.h"
#include "tensor/gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* iarg of the LSTM node: B, T, I, H. saved: activated gates [B, T, 4H] (i, f, g, o);
 * saved2: cell states [B, T, H]. */

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Enough elementwise work per time step to be worth a thread team. */
static int worth_threads(int B, int H) { return (long)B * H >= 4096; }

/* A step tensor that shares `data` (no copy). */
static Tensor *view_of(Graph *g, float *data, int ndim, const int *shape)
{
    Tensor *t = graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->data = data;
    t->ndim = ndim;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = shape_numel(ndim, shape);
    return t;
}

/* ---- the small nodes between the state tensor and what the caller sees ---- */

/* Adds the view's gradient into the state's gradient: at its start (the sequence) or,
 * iarg[0] = 1, at its end (c_n). */
static void state_view_backward(Graph *g, Node *n)
{
    float *ds = graph_grad(g, n->in[0]);
    if (!ds) return;
    if (n->iarg[0]) ds += n->in[0]->numel - n->out->numel;
    const float *dv = n->out->grad;
    for (long i = 0; i < n->out->numel; i++) ds[i] += dv[i];
}

/* h_n is the output sequence's last step: adds into the state gradient at [b, T-1, :]. */
static void h_n_backward(Graph *g, Node *n)
{
    float *ds = graph_grad(g, n->in[0]);
    if (!ds) return;
    int B = n->iarg[0], T = n->iarg[1], H = n->iarg[2];
    const float *dh = n->out->grad;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) ds[((long)b * T + T - 1) * H + j] += dh[(long)b * H + j];
}

static Tensor *record_view(Graph *g, Tensor *state, int at_end, int ndim, const int *shape)
{
    Tensor *t = view_of(g, state->data, ndim, shape);
    if (!t) return NULL;
    if (at_end) t->data += state->numel - t->numel;
    Node *n = graph_record(g, "lstm_view", state_view_backward, t, 1, &state);
    if (n) n->iarg[0] = at_end;
    return t;
}

/* ---- the LSTM node ---- */

/* Backpropagation through time. Per step t, from the last one down, with dh / dc the
 * gradients flowing into h_t / c_t from step t+1 (dc starts as the gradient of c_n):
 *   dh_t = dY_t + dh;  dc_t = dc + dh_t * o * (1 - tanh(c_t)^2)
 *   pre-activation gate gradients dG_t = [dc_t g i(1-i), dc_t c_{t-1} f(1-f), dc_t i (1-g^2), dh_t tanh(c_t) o(1-o)]
 *   dh = dG_t W_hh,  dc = dc_t f.
 * After the loop dh, dc are the gradients of h0, c0; the weight gradients are one GEMM each
 * over all steps: dW_ih += dG^T x, dW_hh += dG^T [h0, h_1 .. h_{T-1}], dx += dG W_ih. */
static void lstm_backward(Graph *g, Node *n)
{
    int B = n->iarg[0], T = n->iarg[1], I = n->iarg[2], H = n->iarg[3], H4 = 4 * H;
    Tensor *x = n->in[0], *w_ih = n->in[1], *w_hh = n->in[2], *h0 = n->in[5], *c0 = n->in[6];
    const float *G = n->saved, *C = n->saved2, *Y = n->out->data;
    const float *dY = n->out->grad, *dcn = dY + (long)B * T * H;
    long BT = (long)B * T;
    float *dG = graph_alloc(g, (size_t)(BT * H4) * sizeof(float));
    float *dh = graph_alloc(g, (size_t)B * H * sizeof(float)), *dc = graph_alloc(g, (size_t)B * H * sizeof(float));
    if (!dG || !dh || !dc) return; /* out of memory: the message is set */
    memset(dh, 0, (size_t)B * H * sizeof(float));
    memcpy(dc, dcn, (size_t)B * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
#pragma omp parallel for schedule(static) if (worth_threads(B, H))
        for (int b = 0; b < B; b++) {
            long row = (long)b * T + t;
            const float *gt = G + row * H4, *ct = C + row * H;
            const float *cprev = t > 0 ? ct - H : (c0 ? c0->data + (long)b * H : NULL);
            float *dgt = dG + row * H4, *dhb = dh + (long)b * H, *dcb = dc + (long)b * H;
            for (int j = 0; j < H; j++) {
                float i = gt[j], f = gt[H + j], gg = gt[2 * H + j], o = gt[3 * H + j];
                float tc = tanhf(ct[j]), cp = cprev ? cprev[j] : 0.0f;
                float dht = dY[row * H + j] + dhb[j];
                float dct = dcb[j] + dht * o * (1 - tc * tc);
                dgt[j] = dct * gg * i * (1 - i);
                dgt[H + j] = dct * cp * f * (1 - f);
                dgt[2 * H + j] = dct * i * (1 - gg * gg);
                dgt[3 * H + j] = dht * tc * o * (1 - o);
                dcb[j] = dct * f;
            }
        }
        gemm(0, 0, B, H, H4, 1, dG + (long)t * H4, T * H4, w_hh->data, H, 0, dh, H);
    }
    float *dh0 = graph_grad(g, h0), *dc0 = graph_grad(g, c0);
    for (long e = 0; e < (long)B * H; e++) {
        if (dh0) dh0[e] += dh[e];
        if (dc0) dc0[e] += dc[e];
    }
    float *dx = graph_grad(g, x), *dwih = graph_grad(g, w_ih), *dwhh = graph_grad(g, w_hh);
    if (dx) gemm(0, 0, (int)BT, I, H4, 1, dG, H4, w_ih->data, I, 1, dx, I);
    if (dwih) gemm(1, 0, H4, I, (int)BT, 1, dG, H4, x->data, I, 1, dwih, I);
    if (dwhh) {
        float *hprev = graph_alloc(g, (size_t)(BT * H) * sizeof(float));
        if (!hprev) return;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float *dst = hprev + ((long)b * T + t) * H;
                if (t > 0) memcpy(dst, Y + ((long)b * T + t - 1) * H, (size_t)H * sizeof(float));
                else if (h0) memcpy(dst, h0->data + (long)b * H, (size_t)H * sizeof(float));
                else memset(dst, 0, (size_t)H * sizeof(float));
            }
        gemm(1, 0, H4, H, (int)BT, 1, dG, H4, hprev, H, 1, dwhh, H);
    }
    for (int k = 3; k <= 4; k++) {
        float *db = graph_grad(g, n->in[k]);
        if (!db) continue;
        for (long r = 0; r < BT; r++)
            for (int c = 0; c < H4; c++) db[c] += dG[r * H4 + c];
    }
}

static int check_shapes(const Tensor *x, const Tensor *w_ih, const Tensor *w_hh, const Tensor *b_ih,
                        const Tensor *b_hh, const Tensor *h0, const Tensor *c0)
{
    int ok = x->ndim == 3 && w_ih->ndim == 2 && w_hh->ndim == 2 && w_hh->shape[0] % 4 == 0;
    int B = x->shape[0], T = x->shape[1], I = x->shape[2], H = w_hh->shape[0] / 4;
    ok = ok && B > 0 && T > 0 && H > 0 && w_hh->shape[1] == H && w_ih->shape[0] == 4 * H && w_ih->shape[1] == I;
    const Tensor *bias[2] = {b_ih, b_hh}, *state[2] = {h0, c0};
    for (int k = 0; k < 2; k++) {
        ok = ok && (!bias[k] || (bias[k]->ndim == 1 && bias[k]->shape[0] == 4 * H));
        ok = ok && (!state[k] || (state[k]->ndim == 2 && state[k]->shape[0] == B && state[k]->shape[1] == H));
    }
    if (ok) return MVLA_OK;
    char s[7][64];
    const Tensor *all[7] = {x, w_ih, w_hh, b_ih, b_hh, h0, c0};
    for (int k = 0; k < 7; k++) {
        if (all[k]) tensor_shape_str(all[k], s[k], sizeof s[k]);
        else snprintf(s[k], sizeof s[k], "none");
    }
    return mvla_fail(MVLA_ERR_ARG,
                     "lstm: x %s, w_ih %s, w_hh %s, b_ih %s, b_hh %s, h0 %s, c0 %s: expected x [B,T,I] with B, T > 0, "
                     "w_ih [4H,I], w_hh [4H,H], biases [4H], h0 and c0 [B,H]",
                     s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
}

Tensor *op_lstm_layer(Graph *g, Tensor *x, Tensor *w_ih, Tensor *w_hh, Tensor *b_ih, Tensor *b_hh, Tensor *h0,
                      Tensor *c0, Tensor **h_n, Tensor **c_n)
{
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!x || !w_ih || !w_hh) return NULL;
    if (check_shapes(x, w_ih, w_hh, b_ih, b_hh, h0, c0)) return NULL;
    int B = x->shape[0], T = x->shape[1], I = x->shape[2], H = w_hh->shape[0] / 4, H4 = 4 * H;
    long BT = (long)B * T, BTH = BT * H;
    Tensor *inputs[7] = {x, w_ih, w_hh, b_ih, b_hh, h0, c0};

    /* Gates and cell states: in the arena for backward when a node will be recorded. */
    int save = 0;
    for (int k = 0; k < 7; k++) save |= inputs[k] && inputs[k]->requires_grad;
    save = save && graph_grad_enabled(g);
    size_t gbytes = (size_t)(BT * H4) * sizeof(float), cbytes = (size_t)BTH * sizeof(float);
    float *G = save ? graph_alloc(g, gbytes) : malloc(gbytes);
    float *C = save ? graph_alloc(g, cbytes) : malloc(cbytes);
    Tensor *state = graph_tensor(g, 1, (int[]){(int)(BTH + (long)B * H)});
    if (!G || !C || !state) {
        if (!save) free(G), free(C);
        mvla_fail(MVLA_ERR_NOMEM, "lstm: out of memory for B %d, T %d, H %d", B, T, H);
        return NULL;
    }
    float *Y = state->data, *cn = Y + BTH;

    /* Input contributions of every step at once: G = x W_ih^T + b_ih + b_hh. */
    for (long r = 0; r < BT; r++)
        for (int c = 0; c < H4; c++)
            G[r * H4 + c] = (b_ih ? b_ih->data[c] : 0.0f) + (b_hh ? b_hh->data[c] : 0.0f);
    gemm(0, 1, (int)BT, H4, I, 1, x->data, I, w_ih->data, I, 1, G, H4);

    for (int t = 0; t < T; t++) {
        /* Rows of step t are T*4H apart; h_{t-1} rows are T*H apart in the output. */
        if (t > 0) gemm(0, 1, B, H4, H, 1, Y + (long)(t - 1) * H, T * H, w_hh->data, H, 1, G + (long)t * H4, T * H4);
        else if (h0) gemm(0, 1, B, H4, H, 1, h0->data, H, w_hh->data, H, 1, G, T * H4);
#pragma omp parallel for schedule(static) if (worth_threads(B, H))
        for (int b = 0; b < B; b++) {
            long row = (long)b * T + t;
            float *gt = G + row * H4, *ct = C + row * H, *yt = Y + row * H;
            const float *cprev = t > 0 ? ct - H : (c0 ? c0->data + (long)b * H : NULL);
            for (int j = 0; j < H; j++) {
                float i = sigmoid(gt[j]), f = sigmoid(gt[H + j]), gg = tanhf(gt[2 * H + j]), o = sigmoid(gt[3 * H + j]);
                gt[j] = i, gt[H + j] = f, gt[2 * H + j] = gg, gt[3 * H + j] = o;
                ct[j] = f * (cprev ? cprev[j] : 0.0f) + i * gg;
                yt[j] = o * tanhf(ct[j]);
            }
        }
    }
    for (int b = 0; b < B; b++) memcpy(cn + (long)b * H, C + ((long)b * T + T - 1) * H, (size_t)H * sizeof(float));
    if (!save) free(G), free(C);

    Node *n = graph_record(g, "lstm", lstm_backward, state, 7, inputs);
    if (n) {
        n->iarg[0] = B, n->iarg[1] = T, n->iarg[2] = I, n->iarg[3] = H;
        n->saved = G;
        n->saved2 = C;
    }

    Tensor *out = record_view(g, state, 0, 3, (int[]){B, T, H});
    if (!out) return NULL;
    if (c_n && !(*c_n = record_view(g, state, 1, 2, (int[]){B, H}))) return NULL;
    if (h_n) {
        Tensor *h = graph_tensor(g, 2, (int[]){B, H});
        if (!h) return NULL;
        for (int b = 0; b < B; b++)
            memcpy(h->data + (long)b * H, Y + ((long)b * T + T - 1) * H, (size_t)H * sizeof(float));
        Node *hn = graph_record(g, "lstm_h_n", h_n_backward, h, 1, &state);
        if (hn) hn->iarg[0] = B, hn->iarg[1] = T, hn->iarg[2] = H;
        *h_n = h;
    }
    return out;
}
