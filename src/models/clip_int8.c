/* INT8 inference for the CLIP vision tower (see clip_int8.h): weight quantisation, the threaded
 * per-row-quantised linear layer, and the forward pass. */
#include "models/clip_int8.h"

#include "base/error.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACT_ZERO 128       /* activations: symmetric u8 around 128 */
#ifndef TILE_ROWS
#define TILE_ROWS 64       /* rows of one GEMM task */
#endif
#ifndef TILE_COLS
#define TILE_COLS 128      /* output channels of one GEMM task (a multiple of 32: whole packed blocks) */
#endif

/* One quantised linear layer: y = x W^T + bias. */
typedef struct {
    I8Weights w;
    float *wscale;         /* [n] per output channel */
    const float *bias;     /* [n] the model's, or NULL */
} QLinear;

enum { Q_Q, Q_K, Q_V, Q_O, Q_FC1, Q_FC2, Q_PER_LAYER };

struct ClipVisionInt8 {
    const ClipModel *m;
    I8Kernel kernel;
    QLinear patch;         /* [D, C*P*P], no bias */
    QLinear *lin;          /* [layers][Q_PER_LAYER] */
    int n_layers;
};

static void qlinear_free(QLinear *l)
{
    i8_weights_free(&l->w);
    free(l->wscale);
    memset(l, 0, sizeof *l);
}

/* w [n, k] row-major -> symmetric s8 per output channel. */
static int qlinear_init(QLinear *l, const Tensor *w, const Tensor *bias, const char *what)
{
    memset(l, 0, sizeof *l);
    int n = w->shape[0], k = (int)(w->numel / n);
    int8_t *q = malloc((size_t)n * k);
    l->wscale = malloc((size_t)n * sizeof *l->wscale);
    if (!q || !l->wscale) {
        free(q);
        qlinear_free(l);
        return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory quantising %s", what);
    }
    int rc = MVLA_OK;
    for (int o = 0; o < n && !rc; o++) {
        const float *row = w->data + (long)o * k;
        float mx = 0.0f;
        for (int c = 0; c < k; c++) mx = fmaxf(mx, fabsf(row[c]));
        if (!isfinite(mx)) {
            rc = mvla_fail(MVLA_ERR_ARG, "clip int8: %s: row %d: expected finite weights", what, o);
            break;
        }
        float s = mx > 0.0f ? mx / 127.0f : 1.0f;
        l->wscale[o] = s;
        for (int c = 0; c < k; c++) {
            float v = rintf(row[c] / s);
            q[(long)o * k + c] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
        }
    }
    if (!rc) rc = i8_weights_pack(&l->w, q, n, k, k);
    free(q);
    if (rc) {
        qlinear_free(l);
        return rc;
    }
    l->bias = bias ? bias->data : NULL;
    return MVLA_OK;
}

void clip_vision_int8_free(ClipVisionInt8 *q)
{
    if (!q) return;
    qlinear_free(&q->patch);
    for (int i = 0; q->lin && i < q->n_layers * Q_PER_LAYER; i++) qlinear_free(&q->lin[i]);
    free(q->lin);
    free(q);
}

int clip_vision_int8_new(ClipVisionInt8 **out, const ClipModel *m)
{
    *out = NULL;
    if (!m || !(m->towers & CLIP_TOWER_VISION))
        return mvla_fail(MVLA_ERR_ARG, "clip int8: the vision tower is not loaded");
    const ClipTower *t = &m->vision;
    int L = t->cfg.num_hidden_layers, D = t->cfg.hidden_size, K = t->cfg.num_channels * t->cfg.patch_size *
                                                                 t->cfg.patch_size;
    if (K > I8_MAX_K || t->cfg.intermediate_size > I8_MAX_K || D > I8_MAX_K)
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "clip int8: inner dimensions up to %d are supported", I8_MAX_K);
    ClipVisionInt8 *q = calloc(1, sizeof *q);
    if (!q) return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory");
    q->m = m;
    q->kernel = i8_kernel_best();
    q->n_layers = L;
    q->lin = calloc((size_t)(L ? L : 1) * Q_PER_LAYER, sizeof *q->lin);
    int rc = q->lin ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory");
    if (!rc) rc = qlinear_init(&q->patch, t->patch_embedding, NULL, "patch_embedding");
    for (int i = 0; !rc && i < L; i++) {
        const EncoderBlock *b = &t->layers[i];
        const Tensor *w[Q_PER_LAYER] = {b->q_w, b->k_w, b->v_w, b->o_w, b->fc1_w, b->fc2_w};
        const Tensor *bias[Q_PER_LAYER] = {b->q_b, b->k_b, b->v_b, b->o_b, b->fc1_b, b->fc2_b};
        static const char *const names[Q_PER_LAYER] = {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"};
        for (int j = 0; !rc && j < Q_PER_LAYER; j++) {
            char what[64];
            snprintf(what, sizeof what, "layer %d %s", i, names[j]);
            rc = qlinear_init(&q->lin[i * Q_PER_LAYER + j], w[j], bias[j], what);
        }
    }
    if (rc) {
        clip_vision_int8_free(q);
        return rc;
    }
    *out = q;
    return MVLA_OK;
}

int clip_vision_int8_set_kernel(ClipVisionInt8 *q, I8Kernel k)
{
    if (k < 0 || k >= I8_NKERNELS || !i8_kernel_available(k))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "clip int8: kernel %s does not run on this CPU", i8_kernel_name(k));
    q->kernel = k;
    return MVLA_OK;
}

I8Kernel clip_vision_int8_kernel(const ClipVisionInt8 *q) { return q->kernel; }

/* ---- the quantised linear layer ---- */

/* Row m of x [K] -> qa row (zero point ACT_ZERO), returns the row's scale. */
static float quantize_row(const float *x, int K, uint8_t *qa, int kp)
{
    /* max |x| on the bit patterns: without the sign bit they order like the magnitudes (NaN above inf),
     * and an integer max reduction vectorises */
    uint32_t mb = 0;
    for (int k = 0; k < K; k++) {
        uint32_t u;
        memcpy(&u, x + k, sizeof u);
        u &= 0x7fffffffu;
        mb = u > mb ? u : mb;
    }
    float mx;
    memcpy(&mx, &mb, sizeof mx);
    float s = mx > 0.0f && isfinite(mx) ? mx / 127.0f : 1.0f;
    i8_quantize_rows(1, K, x, K, 1.0f / s, ACT_ZERO, qa, kp);
    return s;
}

/* y[m][n0..n1) = y * sa[m] + bias[n] (+ add[m][n]), rows m0..m1. */
static void finish_tile(float *y, int ldy, const float *sa, const float *bias, const float *add, int m0, int m1,
                        int n0, int n1)
{
    for (int m = m0; m < m1; m++) {
        float s = sa[m], *yr = y + (long)m * ldy;
        const float *ar = add ? add + (long)m * ldy : NULL;
        if (bias && ar)
            for (int n = n0; n < n1; n++) yr[n] = yr[n] * s + bias[n] + ar[n];
        else if (bias)
            for (int n = n0; n < n1; n++) yr[n] = yr[n] * s + bias[n];
        else if (ar)
            for (int n = n0; n < n1; n++) yr[n] = yr[n] * s + ar[n];
        else
            for (int n = n0; n < n1; n++) yr[n] = yr[n] * s;
    }
}

/* y_j [M, n_j] = x [M, K] W_j^T + bias_j (+ add_j) for j < n_out: the outputs share x's quantisation.
 * Returns 0, or an error after a failed scratch allocation. */
static int qlinear_run(Graph *g, I8Kernel kernel, const float *x, int M, int K, const QLinear *const *L, int n_out,
                       float *const *y, const float *const *add)
{
    int kp = i8_padded_k(K);
    uint8_t *qa = graph_alloc(g, (size_t)M * kp);
    float *sa = graph_alloc(g, (size_t)M * sizeof *sa);
    if (!qa || !sa) return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory for activations");
#pragma omp parallel for schedule(static) if ((long)M * K >= PAR_MIN_WORK)
    for (int m = 0; m < M; m++) sa[m] = quantize_row(x + (long)m * K, K, qa + (long)m * kp, kp);

    /* tasks: (output j, column chunk c, row block r), r fastest, so consecutive tasks share a weight panel;
     * handed out dynamically (a thread that loses its core to another process does not hold the rest up).
     * A single row block (one image) gets narrower column chunks, to give every thread several tasks. */
    int row_blocks = (M + TILE_ROWS - 1) / TILE_ROWS, tasks = 0;
    int cols = row_blocks > 1 ? TILE_COLS : TILE_COLS / 2;
    int first[4];
    double work = 0;
    for (int j = 0; j < n_out; j++) {
        first[j] = tasks;
        tasks += row_blocks * ((L[j]->w.n + cols - 1) / cols);
        work += (double)M * K * L[j]->w.n;
    }
    first[n_out] = tasks;
#pragma omp parallel for schedule(dynamic, 1) if (work >= 16.0 * PAR_MIN_WORK)
    for (int t = 0; t < tasks; t++) {
        int j = 0;
        while (t >= first[j + 1]) j++;
        const QLinear *l = L[j];
        int local = t - first[j], r = local % row_blocks, c = local / row_blocks;
        int m0 = r * TILE_ROWS, m1 = m0 + TILE_ROWS < M ? m0 + TILE_ROWS : M;
        int n0 = c * cols, n1 = n0 + cols < l->w.n ? n0 + cols : l->w.n;
        int N = l->w.n;
        /* the packed blocks n0/16 .. as a weight matrix of their own */
        I8Weights view = {n1 - n0, l->w.k, l->w.kp, (n1 - n0 + 15) / 16, l->w.w + (long)(n0 / 16) * l->w.kp * 16,
                          l->w.wsum + n0};
        I8Epilogue e = {ACT_ZERO, l->wscale + n0, NULL, I8_ACT_NONE, NULL, 0};
        i8_gemm(kernel, m1 - m0, qa + (long)m0 * kp, kp, &view, &e, y[j] + (long)m0 * N + n0, N);
        finish_tile(y[j], N, sa, l->bias, add ? add[j] : NULL, m0, m1, n0, n1);
    }
    return MVLA_OK;
}

/* One output: x [.., K] -> new step tensor [.., n] (plus add when not NULL, same shape as the result). */
static Tensor *qlinear(Graph *g, I8Kernel kernel, Tensor *x, const QLinear *l, const Tensor *add)
{
    if (!x) return NULL;
    int K = x->shape[x->ndim - 1], M = (int)(x->numel / K);
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = l->w.n;
    Tensor *y = graph_tensor(g, x->ndim, shape);
    if (!y) return NULL;
    const QLinear *ls[1] = {l};
    float *ys[1] = {y->data};
    const float *adds[1] = {add ? add->data : NULL};
    return qlinear_run(g, kernel, x->data, M, K, ls, 1, ys, adds) ? NULL : y;
}

/* ---- forward ---- */

/* pixels [B, C, R, R] -> rows [B*G*G][C*P*P] (patch gy*G + gx, flattened (c, ky, kx) like the conv weight). */
static float *patch_rows(Graph *g, const Tensor *px, int C, int R, int P)
{
    int B = px->shape[0], G = R / P, K = C * P * P;
    float *rows = graph_alloc(g, (size_t)B * G * G * K * sizeof *rows);
    if (!rows) return NULL;
#pragma omp parallel for schedule(static) if ((long)B * G * G * K >= PAR_MIN_WORK)
    for (int bp = 0; bp < B * G * G; bp++) {
        int b = bp / (G * G), gy = bp % (G * G) / G, gx = bp % G;
        float *dst = rows + (long)bp * K;
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < P; ky++)
                memcpy(dst + ((long)c * P + ky) * P,
                       px->data + (((long)b * C + c) * R + (long)gy * P + ky) * R + (long)gx * P,
                       (size_t)P * sizeof(float));
    }
    return rows;
}

static Tensor *block_forward(Graph *g, const ClipVisionInt8 *q, int i, Tensor *x)
{
    const ClipTower *t = &q->m->vision;
    const EncoderBlock *b = &t->layers[i];
    const EncoderBlockConfig *c = &t->block;
    const QLinear *l = &q->lin[i * Q_PER_LAYER];
    Tensor *h = op_layernorm(g, x, b->ln1_w, b->ln1_b, c->eps);
    if (!h) return NULL;
    Tensor *qkv[3];
    for (int j = 0; j < 3; j++)
        if (!(qkv[j] = graph_tensor(g, 3, h->shape))) return NULL;
    const QLinear *ls[3] = {&l[Q_Q], &l[Q_K], &l[Q_V]};
    float *ys[3] = {qkv[0]->data, qkv[1]->data, qkv[2]->data};
    int D = h->shape[2];
    if (qlinear_run(g, q->kernel, h->data, (int)(h->numel / D), D, ls, 3, ys, NULL)) return NULL;
    Tensor *a = op_attention(g, qkv[0], qkv[1], qkv[2], c->heads, c->causal, NULL, 0.0f);
    x = qlinear(g, q->kernel, a, &l[Q_O], x);
    if (!x) return NULL;
    h = mlp_act_forward(g, qlinear(g, q->kernel, op_layernorm(g, x, b->ln2_w, b->ln2_b, c->eps), &l[Q_FC1], NULL),
                        c->act);
    return qlinear(g, q->kernel, h, &l[Q_FC2], x);
}

int clip_vision_int8_forward(Graph *g, const ClipVisionInt8 *q, Tensor *pixel_values, int want_hidden,
                             ClipOutput *out)
{
    memset(out, 0, sizeof *out);
    if (graph_grad_enabled(g))
        return mvla_fail(MVLA_ERR_ARG, "clip int8: inference only: call graph_set_grad(g, 0) first");
    const ClipModel *m = q->m;
    const ClipTower *t = &m->vision;
    int C = t->cfg.num_channels, R = t->cfg.image_size, P = t->cfg.patch_size, D = t->cfg.hidden_size;
    int T = clip_vision_tokens(&t->cfg), G = R / P;
    Tensor *px = pixel_values;
    int rc = clip_check_pixels(t, px, "clip int8 vision");
    if (rc) return rc;
    int B = px->shape[0];
    /* embeddings: [class ; patches W^T] + positions */
    float *rows = patch_rows(g, px, C, R, P);
    Tensor *x = graph_tensor(g, 3, (int[]){B, T, D});
    if (!rows || !x) return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory");
    {
        /* the patch GEMM writes straight into tokens 1.. of each image (rows of G*G, stride T*D) */
        float *emb = graph_alloc(g, (size_t)B * G * G * D * sizeof *emb);
        if (!emb) return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory");
        const QLinear *ls[1] = {&q->patch};
        float *ys[1] = {emb};
        int rc = qlinear_run(g, q->kernel, rows, B * G * G, C * P * P, ls, 1, ys, NULL);
        if (rc) return rc;
        const float *cls = t->class_embedding->data, *pos = t->position_embedding->data;
        for (int b = 0; b < B; b++)
            for (int tk = 0; tk < T; tk++) {
                float *dst = x->data + ((long)b * T + tk) * D;
                const float *src = tk == 0 ? cls : emb + ((long)b * G * G + tk - 1) * D;
                const float *p = pos + (long)tk * D;
                for (int d = 0; d < D; d++) dst[d] = src[d] + p[d];
            }
    }
    x = op_layernorm(g, x, t->pre_layrnorm_w, t->pre_layrnorm_b, (float)t->cfg.layer_norm_eps);
    Tensor **hidden = NULL;
    if (want_hidden && !(hidden = graph_alloc(g, (size_t)(t->cfg.num_hidden_layers + 1) * sizeof *hidden)))
        return mvla_fail(MVLA_ERR_NOMEM, "clip int8: out of memory");
    if (hidden) hidden[0] = x;
    for (int i = 0; x && i < t->cfg.num_hidden_layers; i++) {
        x = block_forward(g, q, i, x);
        if (hidden) hidden[i + 1] = x;
    }
    Tensor *pooled = NULL;
    if (x) {
        Tensor *first = op_reshape(g, op_slice(g, x, 1, 0, 1), 2, (int[]){B, D});
        pooled = op_layernorm(g, first, t->final_ln_w, t->final_ln_b, (float)t->cfg.layer_norm_eps);
    }
    return clip_tower_finish(g, t, x, pooled, hidden, out, "int8 vision");
}
