#include "tensor/ops_conv.h"

#include "base/error.h"
#include "tensor/parallel.h"
#include "tensor/gemm.h"

#include <string.h>

enum { CONV_GENERAL, CONV_1X1, CONV_DEPTHWISE };

/* Everything one convolution needs, from the shapes and the settings. */
typedef struct {
    int N, Cin, H, W, Cout, kh, kw, Ho, Wo;
    int sh, sw, ph, pw, dh, dw, groups;
    int cin_g, cout_g;   /* channels per group */
    int kind;
} ConvGeom;

Conv2dOpts conv2d_opts(int stride, int pad, int groups)
{
    return (Conv2dOpts){stride, stride, pad, pad, 1, 1, groups};
}

static void geom_fill(ConvGeom *c, const Tensor *x, const Tensor *w)
{
    c->N = x->shape[0], c->Cin = x->shape[1], c->H = x->shape[2], c->W = x->shape[3];
    c->Cout = w->shape[0], c->kh = w->shape[2], c->kw = w->shape[3];
    c->cin_g = c->Cin / c->groups, c->cout_g = c->Cout / c->groups;
    c->Ho = (c->H + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    c->Wo = (c->W + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    if (c->groups == c->Cin && c->Cout == c->Cin)
        c->kind = CONV_DEPTHWISE;
    else if (c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0)
        c->kind = CONV_1X1;
    else
        c->kind = CONV_GENERAL;
}

/* Output positions o in [*lo, *hi) whose input index o * s + off lies in [0, len). */
static void valid_range(int len, int out, int s, int off, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int last = len - 1 - off; /* need o * s <= last */
    int h = last < 0 ? 0 : last / s + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l, *hi = h;
}

/* One image's group of channels x [cin_g, H, W] -> col [cin_g * kh * kw, Ho * Wo] (zeros where padded). */
static void im2col(const ConvGeom *c, const float *x, float *col)
{
    int rows = c->cin_g * c->kh * c->kw;
    long hw = (long)c->Ho * c->Wo;
#pragma omp parallel for schedule(static) if (rows * hw > PAR_MIN_WORK)
    for (int r = 0; r < rows; r++) {
        int ci = r / (c->kh * c->kw), ki = r / c->kw % c->kh, kj = r % c->kw;
        const float *xc = x + (long)ci * c->H * c->W;
        int off = kj * c->dw - c->pw, lo, hi;
        valid_range(c->W, c->Wo, c->sw, off, &lo, &hi);
        for (int oh = 0; oh < c->Ho; oh++) {
            float *dst = col + r * hw + (long)oh * c->Wo;
            int ih = oh * c->sh - c->ph + ki * c->dh;
            if (ih < 0 || ih >= c->H) {
                memset(dst, 0, (size_t)c->Wo * sizeof *dst);
                continue;
            }
            const float *src = xc + (long)ih * c->W; /* input column ow * sw + off */
            for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
            if (c->sw == 1) {
                if (hi > lo) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
            } else {
#pragma omp simd
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[(long)ow * c->sw + off];
            }
            for (int ow = hi; ow < c->Wo; ow++) dst[ow] = 0;
        }
    }
}

/* The adjoint of im2col: adds col [cin_g * kh * kw, Ho * Wo] into dx [cin_g, H, W]. */
static void col2im_add(const ConvGeom *c, const float *col, float *dx)
{
    long hw = (long)c->Ho * c->Wo;
#pragma omp parallel for schedule(static) if ((long)c->cin_g * c->kh * c->kw * hw > PAR_MIN_WORK)
    for (int ci = 0; ci < c->cin_g; ci++) {
        float *dxc = dx + (long)ci * c->H * c->W;
        for (int ki = 0; ki < c->kh; ki++)
            for (int kj = 0; kj < c->kw; kj++) {
                const float *src = col + ((long)(ci * c->kh + ki) * c->kw + kj) * hw;
                int off = kj * c->dw - c->pw, lo, hi;
                valid_range(c->W, c->Wo, c->sw, off, &lo, &hi);
                for (int oh = 0; oh < c->Ho; oh++) {
                    int ih = oh * c->sh - c->ph + ki * c->dh;
                    if (ih < 0 || ih >= c->H) continue;
                    float *dst = dxc + (long)ih * c->W;
                    const float *s = src + (long)oh * c->Wo;
                    if (c->sw == 1) {
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) dst[ow + off] += s[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[(long)ow * c->sw + off] += s[ow];
                    }
                }
            }
    }
}

/* ---- depthwise: one kh x kw filter per channel (groups == Cin == Cout) ----
 * Each output row is built tap by tap: for kernel tap (ki, kj), y_row[ow] += w * x_row[ow * sw + kj * dw - pw].
 * Columns whose every tap is inside the input ("interior") run without bounds checks and vectorise;
 * the few border columns check each tap. */

/* Output columns [*lo, *hi) whose whole kernel row lies inside the input. */
static void interior_cols(const ConvGeom *c, int *lo, int *hi)
{
    int l0, h0, l1, h1;
    valid_range(c->W, c->Wo, c->sw, -c->pw, &l0, &h0);                         /* first tap */
    valid_range(c->W, c->Wo, c->sw, (c->kw - 1) * c->dw - c->pw, &l1, &h1);    /* last tap */
    *lo = l0 > l1 ? l0 : l1;
    *hi = h0 < h1 ? h0 : h1;
    if (*hi < *lo) *hi = *lo;
}

/* The next border column after ow (columns outside [lo, hi)); Wo when done. */
static inline int next_border(int ow, int lo, int hi) { return ow + 1 == lo ? (hi > lo ? hi : lo) : ow + 1; }

/* One output row's border columns (outside [lo, hi)), each tap checked. */
static void dw_border_cols(const ConvGeom *c, const float *xp, const float *wk, float b, float *yr, int oh, int lo,
                           int hi)
{
    for (int ow = lo > 0 ? 0 : hi; ow < c->Wo; ow = next_border(ow, lo, hi)) {
        float acc = b;
        for (int ki = 0; ki < c->kh; ki++) {
            int ih = oh * c->sh - c->ph + ki * c->dh;
            if (ih < 0 || ih >= c->H) continue;
            for (int kj = 0; kj < c->kw; kj++) {
                int iw = ow * c->sw - c->pw + kj * c->dw;
                if (iw >= 0 && iw < c->W) acc += wk[ki * c->kw + kj] * xp[(long)ih * c->W + iw];
            }
        }
        yr[ow] = acc;
    }
}

/* One output plane of a K x K filter, stride S, dilation 1 (K and S are constants after inlining):
 * interior columns sum their K*K taps in registers; rows above or below the input read `zeros`. */
static inline __attribute__((always_inline)) void dw_plane_fixed(const ConvGeom *c, const float *xp,
                                                                 const float *restrict wk, float b,
                                                                 float *restrict yp, const float *zeros, int lo,
                                                                 int hi, const int K, const int S)
{
    const int pw = c->pw;
    for (int oh = 0; oh < c->Ho; oh++) {
        const float *rows[8];
        for (int ki = 0; ki < K; ki++) {
            int ih = oh * S - c->ph + ki;
            rows[ki] = ih >= 0 && ih < c->H ? xp + (long)ih * c->W : zeros;
        }
        float *restrict yr = yp + (long)oh * c->Wo;
#pragma omp simd
        for (int ow = lo; ow < hi; ow++) {
            long base = (long)ow * S - pw;
            float acc = b;
#pragma GCC unroll 8
            for (int ki = 0; ki < K; ki++)
#pragma GCC unroll 8
                for (int kj = 0; kj < K; kj++) acc += wk[ki * K + kj] * rows[ki][base + kj];
            yr[ow] = acc;
        }
        dw_border_cols(c, xp, wk, b, yr, oh, lo, hi);
    }
}

/* Any kernel, stride and dilation: the output row is built tap by tap, y_row += w * shifted x_row. */
static void dw_plane_generic(const ConvGeom *c, const float *xp, const float *wk, float b, float *yp, int lo, int hi)
{
    for (int oh = 0; oh < c->Ho; oh++) {
        float *yr = yp + (long)oh * c->Wo;
        for (int ow = lo; ow < hi; ow++) yr[ow] = b;
        for (int ki = 0; ki < c->kh; ki++) {
            int ih = oh * c->sh - c->ph + ki * c->dh;
            if (ih < 0 || ih >= c->H) continue;
            for (int kj = 0; kj < c->kw; kj++) {
                float wv = wk[ki * c->kw + kj];
                const float *s = xp + (long)ih * c->W;
                int off = kj * c->dw - c->pw;
                if (c->sw == 1) {
#pragma omp simd
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * s[ow + off];
                } else {
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * s[(long)ow * c->sw + off];
                }
            }
        }
        dw_border_cols(c, xp, wk, b, yr, oh, lo, hi);
    }
}

/* zeros: at least W zero floats (a stand-in for padded rows). */
static void depthwise_forward(const ConvGeom *c, const float *x, const float *w, const float *bias, float *y,
                              const float *zeros)
{
    long planes = (long)c->N * c->Cout, hw = (long)c->Ho * c->Wo;
    int lo, hi;
    interior_cols(c, &lo, &hi);
    int fixed = c->kh == c->kw && (c->kh == 3 || c->kh == 5) && c->dh == 1 && c->dw == 1 && c->sh == c->sw &&
                (c->sh == 1 || c->sh == 2);
#pragma omp parallel for schedule(static) if (planes * hw * c->kh * c->kw > PAR_MIN_WORK)
    for (long p = 0; p < planes; p++) {
        int ch = (int)(p % c->Cout);
        const float *xp = x + p * c->H * c->W, *wk = w + (long)ch * c->kh * c->kw;
        float b = bias ? bias[ch] : 0.0f, *yp = y + p * hw;
        if (!fixed) dw_plane_generic(c, xp, wk, b, yp, lo, hi);
        else if (c->kh == 3 && c->sh == 1) dw_plane_fixed(c, xp, wk, b, yp, zeros, lo, hi, 3, 1);
        else if (c->kh == 3) dw_plane_fixed(c, xp, wk, b, yp, zeros, lo, hi, 3, 2);
        else if (c->sh == 1) dw_plane_fixed(c, xp, wk, b, yp, zeros, lo, hi, 5, 1);
        else dw_plane_fixed(c, xp, wk, b, yp, zeros, lo, hi, 5, 2);
    }
}

static void depthwise_backward(const ConvGeom *c, const float *x, const float *w, const float *dy, float *dx,
                               float *dw)
{
    long planes = (long)c->N * c->Cout, hw = (long)c->Ho * c->Wo;
    long work = planes * hw * c->kh * c->kw;
    int lo, hi;
    interior_cols(c, &lo, &hi);
    int first = lo > 0 ? 0 : hi;
    if (dx) {
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
        for (long p = 0; p < planes; p++) {
            int ch = (int)(p % c->Cout);
            const float *wk = w + (long)ch * c->kh * c->kw;
            float *dxp = dx + p * c->H * c->W;
            for (int oh = 0; oh < c->Ho; oh++) {
                const float *dyr = dy + p * hw + (long)oh * c->Wo;
                for (int ki = 0; ki < c->kh; ki++) {
                    int ih = oh * c->sh - c->ph + ki * c->dh;
                    if (ih < 0 || ih >= c->H) continue;
                    float *dxr = dxp + (long)ih * c->W;
                    for (int kj = 0; kj < c->kw; kj++) {
                        float wv = wk[ki * c->kw + kj];
                        int off = kj * c->dw - c->pw;
                        if (c->sw == 1) {
#pragma omp simd
                            for (int ow = lo; ow < hi; ow++) dxr[ow + off] += wv * dyr[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) dxr[(long)ow * c->sw + off] += wv * dyr[ow];
                        }
                        for (int ow = first; ow < c->Wo; ow = next_border(ow, lo, hi)) {
                            int iw = ow * c->sw + off;
                            if (iw >= 0 && iw < c->W) dxr[iw] += wv * dyr[ow];
                        }
                    }
                }
            }
        }
    }
    if (dw) {
        /* Parallel over channels so each thread owns its filter; the batch is summed inside. */
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
        for (int ch = 0; ch < c->Cout; ch++) {
            float *dwk = dw + (long)ch * c->kh * c->kw;
            for (int n = 0; n < c->N; n++) {
                long p = (long)n * c->Cout + ch;
                const float *xp = x + p * c->H * c->W;
                for (int oh = 0; oh < c->Ho; oh++) {
                    const float *dyr = dy + p * hw + (long)oh * c->Wo;
                    for (int ki = 0; ki < c->kh; ki++) {
                        int ih = oh * c->sh - c->ph + ki * c->dh;
                        if (ih < 0 || ih >= c->H) continue;
                        const float *xr = xp + (long)ih * c->W;
                        for (int kj = 0; kj < c->kw; kj++) {
                            int off = kj * c->dw - c->pw;
                            float acc = 0;
                            if (c->sw == 1) {
#pragma omp simd reduction(+ : acc)
                                for (int ow = lo; ow < hi; ow++) acc += dyr[ow] * xr[ow + off];
                            } else {
#pragma omp simd reduction(+ : acc)
                                for (int ow = lo; ow < hi; ow++) acc += dyr[ow] * xr[(long)ow * c->sw + off];
                            }
                            for (int ow = first; ow < c->Wo; ow = next_border(ow, lo, hi)) {
                                int iw = ow * c->sw + off;
                                if (iw >= 0 && iw < c->W) acc += dyr[ow] * xr[iw];
                            }
                            dwk[ki * c->kw + kj] += acc;
                        }
                    }
                }
            }
        }
    }
}

/* ---- GEMM paths: 1x1 (x is already the column matrix) and im2col ---- */

/* y[n, group] = W_group [cout_g, K] * cols [K, Ho*Wo], added onto y (which holds the bias or zeros). */
static int gemm_forward(Graph *g, const ConvGeom *c, const float *x, const float *w, float *y)
{
    long hw = (long)c->Ho * c->Wo, in_hw = (long)c->H * c->W;
    int K = c->cin_g * c->kh * c->kw;
    float *col = NULL;
    if (c->kind == CONV_GENERAL && !(col = graph_alloc(g, (size_t)K * hw * sizeof *col))) return -1;
    for (int n = 0; n < c->N; n++)
        for (int gi = 0; gi < c->groups; gi++) {
            const float *xg = x + ((long)n * c->Cin + (long)gi * c->cin_g) * in_hw;
            if (col) im2col(c, xg, col);
            gemm(0, 0, c->cout_g, (int)hw, K, 1, w + (long)gi * c->cout_g * K, K, col ? col : xg, (int)hw, 1,
                 y + ((long)n * c->Cout + (long)gi * c->cout_g) * hw, (int)hw);
        }
    return 0;
}

static void gemm_backward(Graph *g, const ConvGeom *c, const float *x, const float *w, const float *dy, float *dx,
                          float *dw)
{
    long hw = (long)c->Ho * c->Wo, in_hw = (long)c->H * c->W;
    int K = c->cin_g * c->kh * c->kw;
    float *col = NULL;
    if (c->kind == CONV_GENERAL && !(col = graph_alloc(g, (size_t)K * hw * sizeof *col))) return;
    for (int n = 0; n < c->N; n++)
        for (int gi = 0; gi < c->groups; gi++) {
            long xoff = ((long)n * c->Cin + (long)gi * c->cin_g) * in_hw;
            const float *dyg = dy + ((long)n * c->Cout + (long)gi * c->cout_g) * hw;
            const float *wg = w + (long)gi * c->cout_g * K;
            if (dw) { /* dW_group += dY [cout_g, hw] * cols^T */
                if (col) im2col(c, x + xoff, col);
                gemm(0, 1, c->cout_g, K, (int)hw, 1, dyg, (int)hw, col ? col : x + xoff, (int)hw, 1,
                     dw + (long)gi * c->cout_g * K, K);
            }
            if (dx) { /* dcols = W_group^T dY, scattered back by col2im (1x1: added in place) */
                if (col) {
                    gemm(1, 0, K, (int)hw, c->cout_g, 1, wg, K, dyg, (int)hw, 0, col, (int)hw);
                    col2im_add(c, col, dx + xoff);
                } else {
                    gemm(1, 0, K, (int)hw, c->cout_g, 1, wg, K, dyg, (int)hw, 1, dx + xoff, (int)hw);
                }
            }
        }
}

/* ---- the op ---- */

static void conv2d_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2];
    ConvGeom c = {0};
    c.sh = n->iarg[0], c.sw = n->iarg[1], c.ph = n->iarg[2], c.pw = n->iarg[3];
    c.dh = n->iarg[4], c.dw = n->iarg[5], c.groups = n->iarg[6];
    geom_fill(&c, x, w);
    const float *dy = n->out->grad;
    float *dx = graph_grad(g, x), *dw = graph_grad(g, w), *db = graph_grad(g, bias);
    long hw = (long)c.Ho * c.Wo;
    if (db) {
#pragma omp parallel for schedule(static) if ((long)c.N * c.Cout * hw > PAR_MIN_WORK)
        for (int o = 0; o < c.Cout; o++) {
            double acc = 0;
            for (int b = 0; b < c.N; b++) {
                const float *d = dy + ((long)b * c.Cout + o) * hw;
                for (long i = 0; i < hw; i++) acc += d[i];
            }
            db[o] += (float)acc;
        }
    }
    if (!dx && !dw) return;
    if (c.kind == CONV_DEPTHWISE)
        depthwise_backward(&c, x->data, w->data, dy, dx, dw);
    else
        gemm_backward(g, &c, x->data, w->data, dy, dx, dw);
}

/* Checks shapes and settings; fills c. Returns 0, or fails with a message. */
static int conv2d_check(const Tensor *x, const Tensor *w, const Tensor *bias, Conv2dOpts o, ConvGeom *c)
{
    char sx[64], sw[64], sb[64];
    tensor_shape_str(x, sx, sizeof sx);
    tensor_shape_str(w, sw, sizeof sw);
    c->sh = o.stride_h ? o.stride_h : 1, c->sw = o.stride_w ? o.stride_w : 1;
    c->dh = o.dilation_h ? o.dilation_h : 1, c->dw = o.dilation_w ? o.dilation_w : 1;
    c->ph = o.pad_h, c->pw = o.pad_w, c->groups = o.groups ? o.groups : 1;
    if (c->sh < 1 || c->sw < 1 || c->dh < 1 || c->dw < 1 || c->ph < 0 || c->pw < 0 || c->groups < 1)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: stride %dx%d, padding %dx%d, dilation %dx%d, groups %d: expected "
                         "stride, dilation, groups >= 1 and padding >= 0", c->sh, c->sw, c->ph, c->pw, c->dh, c->dw,
                         c->groups);
    if (x->ndim != 4 || w->ndim != 4)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: input %s, weight %s: expected input [N, Cin, H, W] and weight "
                         "[Cout, Cin/groups, kh, kw]", sx, sw);
    int Cin = x->shape[1], Cout = w->shape[0];
    if (Cin < 1 || Cout < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: input %s, weight %s: channels and kernel sizes must be positive", sx,
                         sw);
    if (Cin % c->groups || Cout % c->groups)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: groups %d must divide the input channels (%d) and output channels "
                         "(%d); input %s, weight %s", c->groups, Cin, Cout, sx, sw);
    if (w->shape[1] != Cin / c->groups)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: input %s has %d channels, weight %s expects Cin/groups = %d with "
                         "groups %d: expected weight [%d, %d, kh, kw]", sx, Cin, sw, w->shape[1], c->groups, Cout,
                         Cin / c->groups);
    if (bias && (bias->ndim != 1 || bias->shape[0] != Cout))
        return mvla_fail(MVLA_ERR_ARG, "conv2d: bias %s, expected [%d] for weight %s",
                         tensor_shape_str(bias, sb, sizeof sb), Cout, sw);
    long eff_h = (long)c->dh * (w->shape[2] - 1) + 1, eff_w = (long)c->dw * (w->shape[3] - 1) + 1;
    if (eff_h > x->shape[2] + 2L * c->ph || eff_w > x->shape[3] + 2L * c->pw)
        return mvla_fail(MVLA_ERR_ARG, "conv2d: kernel %ldx%ld (with dilation) is larger than the padded input "
                         "%ldx%ld; input %s, weight %s, padding %dx%d", eff_h, eff_w, x->shape[2] + 2L * c->ph,
                         x->shape[3] + 2L * c->pw, sx, sw, c->ph, c->pw);
    geom_fill(c, x, w);
    return 0;
}

Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *bias, Conv2dOpts opts)
{
    if (!x || !w) return NULL;
    ConvGeom c = {0};
    if (conv2d_check(x, w, bias, opts, &c)) return NULL;
    Tensor *y = graph_tensor(g, 4, (int[]){c.N, c.Cout, c.Ho, c.Wo});
    if (!y) return NULL;
    if (c.kind == CONV_DEPTHWISE) {
        float *zeros = graph_alloc(g, (size_t)c.W * sizeof *zeros);
        if (!zeros) return NULL;
        memset(zeros, 0, (size_t)c.W * sizeof *zeros);
        depthwise_forward(&c, x->data, w->data, bias ? bias->data : NULL, y->data, zeros);
    } else {
        long hw = (long)c.Ho * c.Wo, planes = (long)c.N * c.Cout;
#pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN_WORK)
        for (long p = 0; p < planes; p++) {
            float b = bias ? bias->data[p % c.Cout] : 0.0f;
            for (long i = 0; i < hw; i++) y->data[p * hw + i] = b;
        }
        if (gemm_forward(g, &c, x->data, w->data, y->data)) return NULL;
    }
    Node *n = graph_record(g, "conv2d", conv2d_backward, y, 3, (Tensor *[]){x, w, bias});
    if (n) {
        int v[7] = {c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, c.groups};
        for (int i = 0; i < 7; i++) n->iarg[i] = v[i];
    }
    return y;
}
