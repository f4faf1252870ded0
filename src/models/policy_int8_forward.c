/* The int8 engine's forward pass (see policy_int8.h): the encoder channels-last, frame by frame
 * (stem and depthwise convs fp32, 1x1 convs through qlayer_run), the neck, and the LSTM / MLP head.
 * Buffers come from the graph's arena; nothing here starts threads. */
#include "models/policy_int8_internal.h"

#include "base/error.h"
#include "tensor/gemm.h"

#include <math.h>
#include <string.h>

static int act_of(ActKind k) { return k == BLOCK_ACT_HARDSWISH ? I8_ACT_HARDSWISH : I8_ACT_RELU; }

int qlayer_run(Graph *g, const struct StudentInt8 *q, const QLayer *L, int M, const float *x, int ldx, int act,
               const float *bias_override, const float *add, int ldadd, float *y, int ldy)
{
    if (q->observe) q->observe(q->observe_ctx, L->site, x, M, L->k, ldx);
    const float *bias = bias_override ? bias_override : L->bias;
    if (L->int8) {
        int kp = i8_padded_k(L->k);
        uint8_t *A = graph_alloc(g, (size_t)M * kp);
        if (!A) return MVLA_ERR_NOMEM;
        i8_quantize_rows(M, L->k, x, ldx, L->inv_in_scale, L->zero, A, kp);
        I8Epilogue e = {L->zero, L->scale, bias, act, add, ldadd};
        i8_gemm(q->kernel, M, A, kp, &L->w, &e, y, ldy);
        return 0;
    }
    gemm(0, 1, M, L->n, L->k, 1.0f, x, ldx, L->wf, L->k, 0.0f, y, ldy);
    for (int m = 0; m < M; m++) {
        float *yr = y + (long)m * ldy;
        for (int n = 0; n < L->n; n++) {
            float v = bias ? yr[n] + bias[n] : yr[n];
            v = i8_act(act, v);
            yr[n] = add ? v + add[(long)m * ldadd + n] : v;
        }
    }
    return 0;
}

/* y[o] = b[o] + W[o] . x for a Linear (W [out, in]). */
static void linear_vec(const Linear *l, const float *x, float *y)
{
    for (int o = 0; o < l->out; o++) {
        const float *w = l->weight->data + (long)o * l->in;
        float s = 0;
        for (int i = 0; i < l->in; i++) s += w[i] * x[i];
        y[o] = l->bias ? s + l->bias->data[o] : s;
    }
}

/* Squeeze-excite in place on x [P][C]: x *= hardsigmoid(expand(relu(reduce(mean over P)))). */
static int squeeze_excite(Graph *g, const MBBlock *b, float *x, int P, int C)
{
    float *s = graph_alloc(g, sizeof(float) * (size_t)(2 * C + b->se_channels));
    if (!s) return MVLA_ERR_NOMEM;
    float *r = s + C, *e = r + b->se_channels;
    for (int c = 0; c < C; c++) s[c] = 0;
    for (int p = 0; p < P; p++)
        for (int c = 0; c < C; c++) s[c] += x[(long)p * C + c];
    for (int c = 0; c < C; c++) s[c] /= (float)P;
    linear_vec(&b->se_reduce, s, r);
    for (int j = 0; j < b->se_channels; j++) r[j] = r[j] > 0 ? r[j] : 0.0f;
    linear_vec(&b->se_expand, r, e);
    for (int c = 0; c < C; c++) e[c] = e[c] <= -3.0f ? 0.0f : e[c] >= 3.0f ? 1.0f : e[c] / 6.0f + 0.5f;
    for (int p = 0; p < P; p++)
        for (int c = 0; c < C; c++) x[(long)p * C + c] *= e[c];
    return 0;
}

/* FiLM in place on x [P][C]: x * (1 + gamma(cond)) + beta(cond). */
static int film(Graph *g, const Film *f, const float *cond, float *x, int P, int C)
{
    float *gb = graph_alloc(g, sizeof(float) * 2 * (size_t)C);
    if (!gb) return MVLA_ERR_NOMEM;
    linear_vec(&f->gamma, cond, gb);
    linear_vec(&f->beta, cond, gb + C);
    for (int c = 0; c < C; c++) gb[c] = gb[c] + 1.0f;
    for (int p = 0; p < P; p++)
        for (int c = 0; c < C; c++) x[(long)p * C + c] = x[(long)p * C + c] * gb[c] + gb[C + c];
    return 0;
}

/* The largest channels-last activation of one frame (floats). */
static long max_activation(const MobileNet *m)
{
    long best = (long)m->stem_h * m->stem_w * m->stem_channels;
    int h = m->stem_h, w = m->stem_w;
    for (int i = 0; i < m->n_blocks; i++) {
        const MBBlock *b = &m->blocks[i];
        long a = (long)h * w * b->expand;
        long c = (long)m->block_h[i] * m->block_w[i] * (b->expand > b->out ? b->expand : b->out);
        best = a > best ? a : best;
        best = c > best ? c : best;
        h = m->block_h[i], w = m->block_w[i];
    }
    if (m->has_final) best = (long)h * w * m->out_channels > best ? (long)h * w * m->out_channels : best;
    return best;
}

/* One frame x [3][H][W] with its instruction embedding -> feature [D]. */
static int encode_frame(Graph *g, const StudentPolicy *p, const float *x, const float *cond, float *buf[4], float *out)
{
    const struct StudentInt8 *q = p->int8;
    const MobileNet *m = &p->enc;
    const EncoderConfig *ec = &p->cfg.encoder;
    int h = m->stem_h, w = m->stem_w, C = m->stem_channels, rc = 0;
    nhwc_stem_conv(x, ec->input_height, ec->input_width, q->stem_w, m->stem.folded_bias ? m->stem.folded_bias->data : NULL,
              C, m->stem.conv.weight->shape[2], m->stem.conv.opts, act_of(ec->stem_act), buf[0], h, w);
    float *cur = buf[0], *other = buf[1], *ebuf = buf[2], *dbuf = buf[3];
    for (int i = 0; i < m->n_blocks && !rc; i++) {
        const MBBlock *b = &m->blocks[i];
        const QBlock *qb = &q->blk[i];
        const float *ein = cur;
        int act = act_of(b->act), ho = m->block_h[i], wo = m->block_w[i];
        if (b->has_expand) {
            if ((rc = qlayer_run(g, q, &qb->expand, h * w, cur, C, act, NULL, NULL, 0, ebuf, b->expand))) break;
            ein = ebuf;
        }
        nhwc_depthwise(ein, h, w, b->expand, qb->dw_w, b->dw.folded_bias ? b->dw.folded_bias->data : NULL, b->kernel,
                  b->stride, act, dbuf, ho, wo);
        if (b->has_se && (rc = squeeze_excite(g, b, dbuf, ho * wo, b->expand))) break;
        rc = qlayer_run(g, q, &qb->project, ho * wo, dbuf, b->expand, I8_ACT_NONE, NULL, b->residual ? cur : NULL, C,
                        other, b->out);
        if (!rc && p->film_of_block[i] >= 0) rc = film(g, &p->film[p->film_of_block[i]], cond, other, ho * wo, b->out);
        float *t = cur;
        cur = other, other = t;
        h = ho, w = wo, C = b->out;
    }
    if (!rc && m->has_final) {
        rc = qlayer_run(g, q, &q->final, h * w, cur, C, act_of(ec->final_act), NULL, NULL, 0, other, m->out_channels);
        cur = other, C = m->out_channels;
    }
    if (rc) return rc;
    const float *pooled = cur; /* flatten: channels-last, the neck's columns are permuted to match */
    if (ec->pool == POOL_AVG) {
        float *avg = graph_alloc(g, sizeof(float) * (size_t)C);
        if (!avg) return MVLA_ERR_NOMEM;
        for (int c = 0; c < C; c++) avg[c] = 0;
        for (long s = 0; s < (long)h * w; s++)
            for (int c = 0; c < C; c++) avg[c] += cur[s * C + c];
        for (int c = 0; c < C; c++) avg[c] /= (float)(h * w);
        pooled = avg;
    }
    const float *bias = NULL;
    if (p->cfg.fusion == FUSION_CONCAT) { /* the instruction's columns, fp32, folded into the bias */
        int D = p->neck.out, E = p->cfg.instruction.out_dim;
        float *cb = graph_alloc(g, sizeof(float) * (size_t)D);
        if (!cb) return MVLA_ERR_NOMEM;
        for (int o = 0; o < D; o++) {
            float s = 0;
            for (int e = 0; e < E; e++) s += q->neck_cond[(long)o * E + e] * cond[e];
            cb[o] = p->neck.bias ? s + p->neck.bias->data[o] : s;
        }
        bias = cb;
    }
    return qlayer_run(g, q, &q->neck, 1, pooled, p->pooled_dim, I8_ACT_HARDSWISH, bias, NULL, 0, out, p->neck.out);
}

Tensor *student_int8_frame_features(Graph *g, StudentPolicy *p, Tensor *x, Tensor *cond)
{
    if (!x || !cond) return NULL;
    const EncoderConfig *ec = &p->cfg.encoder;
    int E = p->cfg.instruction.out_dim, D = p->cfg.feature_dim;
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] != ec->input_height || x->shape[3] != ec->input_width ||
        cond->ndim != 2 || cond->shape[0] != x->shape[0] || cond->shape[1] != E) {
        char sx[64], sc[64];
        mvla_fail(MVLA_ERR_ARG, "int8 policy: frames %s, instruction %s: expected [N, 3, %d, %d] and [N, %d]",
                  tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(cond, sc, sizeof sc), ec->input_height,
                  ec->input_width, E);
        return NULL;
    }
    int N = x->shape[0];
    long cap = max_activation(&p->enc), plane = 3L * ec->input_height * ec->input_width;
    Tensor *out = graph_tensor(g, 2, (int[]){N, D});
    float *buf[4];
    for (int i = 0; i < 4; i++) buf[i] = graph_alloc(g, sizeof(float) * (size_t)cap);
    if (!out || !buf[0] || !buf[1] || !buf[2] || !buf[3]) return NULL;
    for (int n = 0; n < N; n++)
        if (encode_frame(g, p, x->data + n * plane, cond->data + (long)n * E, buf, out->data + (long)n * D)) {
            mvla_fail(MVLA_ERR_NOMEM, "int8 policy: out of memory encoding a frame");
            return NULL;
        }
    return out;
}

int student_int8_runs_head(const StudentPolicy *p)
{
    return p->int8 && (p->cfg.head.kind == HEAD_LSTM || p->cfg.head.kind == HEAD_NONE);
}

/* exp(x) in a form the compiler vectorises: 2^n e^r with n = round(x / ln 2), |r| <= ln 2 / 2 (+ rounding), e^r by its
 * Taylor series to r^7 (relative error ~1e-7, as expf). x clamped to [-87, 88]; NaN stays NaN. */
static inline float fast_exp(float x)
{
    float c = x > -87.0f ? x : -87.0f;
    c = c < 88.0f ? c : 88.0f;
    float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f; /* rounded by 1.5 * 2^23 (floorf does not vectorise) */
    float r = c - n * 0.693145752f - n * 1.42860677e-6f; /* ln 2 in two parts */
    float p = 1.0f / 720 + r * (1.0f / 5040);
    p = 1.0f / 24 + r * (1.0f / 120 + r * p);
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * p)));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x == x ? p * scale : x;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
static inline float fast_tanh(float x) { return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f); }

/* One LSTM cell update from the gate pre-activations g [4H] (i, f, g, o): c = f c + i tanh(g),
 * y = o tanh(c); first: c_{-1} = 0. a: scratch [4H]. Separate loops, so each one vectorises. */
I8_CLONES static void lstm_cell(const float *restrict g, float *restrict a, float *restrict c, float *restrict y, int H,
                                int first)
{
    for (int j = 0; j < 2 * H; j++) a[j] = sigmoid(g[j]);
    for (int j = 2 * H; j < 3 * H; j++) a[j] = fast_tanh(g[j]);
    for (int j = 3 * H; j < 4 * H; j++) a[j] = sigmoid(g[j]);
    if (first)
        for (int j = 0; j < H; j++) c[j] = a[j] * a[2 * H + j];
    else
        for (int j = 0; j < H; j++) c[j] = a[H + j] * c[j] + a[j] * a[2 * H + j];
    for (int j = 0; j < H; j++) y[j] = a[3 * H + j] * fast_tanh(c[j]);
}

/* LSTM over feats [B][T][D] -> the last hidden state of the last layer, h_last [B][H]. */
static int lstm(Graph *g, const StudentPolicy *p, const float *feats, int B, int T, int D, float *h_last)
{
    const struct StudentInt8 *q = p->int8;
    int H = p->lstm.hidden, H4 = 4 * H, rc = 0;
    float *Y[2], *Gx = graph_alloc(g, sizeof(float) * (size_t)B * T * H4);
    float *G = graph_alloc(g, sizeof(float) * (size_t)B * H4);
    float *cst = graph_alloc(g, sizeof(float) * (size_t)B * H), *act = graph_alloc(g, sizeof(float) * (size_t)H4);
    Y[0] = graph_alloc(g, sizeof(float) * (size_t)B * T * H);
    Y[1] = graph_alloc(g, sizeof(float) * (size_t)B * T * H);
    if (!Gx || !G || !cst || !act || !Y[0] || !Y[1]) return MVLA_ERR_NOMEM;
    const float *in = feats;
    int in_dim = D;
    for (int l = 0; l < p->lstm.layers && !rc; l++) {
        float *Yl = Y[l % 2];
        rc = qlayer_run(g, q, &q->ih[l], B * T, in, in_dim, I8_ACT_NONE, NULL, NULL, 0, Gx, H4);
        for (int t = 0; t < T && !rc; t++) {
            const float *gt = Gx + (long)t * H4; /* rows b: stride T * 4H */
            long gstride = (long)T * H4;
            if (t > 0) {
                rc = qlayer_run(g, q, &q->hh[l], B, Yl + (long)(t - 1) * H, T * H, I8_ACT_NONE, NULL, gt, T * H4, G, H4);
                gt = G, gstride = H4;
            }
            for (int b = 0; b < B; b++)
                lstm_cell(gt + b * gstride, act, cst + (long)b * H, Yl + ((long)b * T + t) * H, H, t == 0);
        }
        in = Yl, in_dim = H;
    }
    for (int b = 0; b < B; b++) memcpy(h_last + (long)b * H, in + ((long)b * T + T - 1) * H, sizeof(float) * (size_t)H);
    return rc;
}

Tensor *student_int8_head(Graph *g, StudentPolicy *p, Tensor *feats)
{
    if (!feats) return NULL;
    const StudentConfig *c = &p->cfg;
    int B = feats->shape[0], T = feats->shape[1], D = feats->shape[2], K = c->action.chunk, V = p->out_dim;
    if (feats->ndim != 3 || T != c->head.window || D != c->feature_dim) {
        char s[64];
        mvla_fail(MVLA_ERR_ARG, "int8 policy: head input %s: expected [B, %d, %d]", tensor_shape_str(feats, s, sizeof s),
                  c->head.window, c->feature_dim);
        return NULL;
    }
    int hd = p->head_dim, rc;
    Tensor *y = graph_tensor(g, 3, (int[]){B, K, V});
    float *h = graph_alloc(g, sizeof(float) * (size_t)B * hd);
    if (!y || !h) return NULL;
    if (c->head.kind == HEAD_NONE) /* window 1: the current frame */
        rc = qlayer_run(g, p->int8, &p->int8->mlp, B, feats->data + (long)(T - 1) * D, T * D, I8_ACT_RELU, NULL, NULL,
                        0, h, hd);
    else
        rc = lstm(g, p, feats->data, B, T, D, h);
    if (rc) {
        mvla_fail(MVLA_ERR_NOMEM, "int8 policy: out of memory in the head");
        return NULL;
    }
    for (int b = 0; b < B; b++) {
        float *yb = y->data + (long)b * K * V;
        linear_vec(&p->out, h + (long)b * hd, yb);
        if (c->action.kind == ACTION_CONTINUOUS)
            for (int i = 0; i < K * V; i++) yb[i] = tanhf(yb[i]);
    }
    return y;
}
