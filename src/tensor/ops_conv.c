#include "tensor/ops_conv.h"

#include "base/arena.h"
#include "base/error.h"
#include "tensor/parallel.h"
#include "tensor/gemm.h"

#include <omp.h>
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
 * The forward's general path (the fast path below takes 3x3 and 5x5 at stride 1 or 2 on padded copies; this one
 * the other shapes, and those when no scratch can be had). Each output row is built tap by tap: for kernel
 * tap (ki, kj), y_row[ow] += w * x_row[ow * sw + kj * dw - pw]. Columns whose every tap is inside the input
 * ("interior") run without bounds checks and vectorise; the few border columns check each tap. */

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

/* Any settings, from x itself (the fast path's other shapes, or when its scratch cannot be had). */
static void depthwise_forward_generic(const ConvGeom *c, const float *x, const float *w, const float *bias, float *y)
{
    long planes = (long)c->N * c->Cout, hw = (long)c->Ho * c->Wo;
    int lo, hi;
    interior_cols(c, &lo, &hi);
#pragma omp parallel for schedule(static) if (planes * hw * c->kh * c->kw > PAR_MIN_WORK)
    for (long p = 0; p < planes; p++) {
        int ch = (int)(p % c->Cout);
        const float *xp = x + p * c->H * c->W, *wk = w + (long)ch * c->kh * c->kw;
        dw_plane_generic(c, xp, wk, bias ? bias[ch] : 0.0f, y + p * hw, lo, hi);
    }
}

/* Any kernel, stride and dilation: dx and dw tap by tap over output rows, border columns checked. */
static void depthwise_backward_generic(const ConvGeom *c, const float *x, const float *w, const float *dy, float *dx,
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

/* ---- depthwise backward, fast path: a K x K filter (K = 3 or 5), stride S = 1 or 2 both ways, dilation 1 ----
 * Both gradients become sums of shifted flat planes with no bounds checks. A plane laid out flat with row
 * stride ws > its width has zeros between its rows (and zero rows above and below), placed so that every
 * tap's read of a padded position lands on a zero: each tap is then one contiguous multiply-add over the plane.
 *   dx: with u = ih + ph = S r + a and v = iw + pw = S c + b (a, b the phase),
 *       dx[ih][iw] += Q_ab[r][c],  Q_ab[r][c] = sum_{t, t'} w[a + S t][b + S t'] dy[r - t][c - t'],
 *       a stride-1 correlation per phase, over dy copied into the padded layout;
 *   dw: stride 1: dw[ki][kj] = sum_{ih, iw} x[ih][iw] dy[ih + ph - ki][iw + pw - kj] (x and dy copied flat);
 *       stride 2: dw[ki][kj] = sum_{oh, ow} dy[oh][ow] X_ab[oh + ki / 2][ow + kj / 2], with the input's four
 *       phases X_ab[r][c] = x[2 r + a - ph][2 c + b - pw] (zero outside x), a = ki % 2, b = kj % 2.
 * The copies live in per-thread scratch whose zeros are written once per call (every plane puts its data at the
 * same places). dx is parallel over planes, dw over channels with the batch summed in order inside, so results
 * do not depend on the thread count. */

/* Eight floats; v8u: the same at any float address (loads and stores through it alias float data). Macros, not
 * functions, so no vector crosses a call (whose ABI would depend on the target's vector extensions). */
typedef float v8f __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define LD8(p) (*(const v8u *)(p))
#define ST8(p, v) (*(v8u *)(p) = (v))

/* d[0, n) = s[0, n): rows of fewer than 8 floats are too short for a call to memcpy to pay. (Longer ones copied by
 * vectors here ran slower: the kernels' loads right after straddle those stores.) */
static inline void dwb_copy(float *restrict d, const float *restrict s, int n)
{
    if (n >= 8) {
        memcpy(d, s, (size_t)n * sizeof *d);
        return;
    }
    int i = 0;
    if (n & 4) {
        float t[4];
        memcpy(t, s, sizeof t), memcpy(d, t, sizeof t);
        i = 4;
    }
    if (n & 2) d[i] = s[i], d[i + 1] = s[i + 1], i += 2;
    if (n & 1) d[i] = s[i];
}

/* rows rows of n floats, packed at s, to d with row stride ld. */
static inline void dwb_copy_rows(float *restrict d, long ld, const float *restrict s, int n, int rows)
{
    for (int r = 0; r < rows; r++) dwb_copy(d + r * ld, s + (long)r * n, n);
}

static long up8(long n) { return (n + 7) & ~7L; }

enum { DWB_TAPS = 25 };

/* Layouts of one call's padded copies (all offsets in floats). */
typedef struct {
    /* dx: dy[oh][ow] at db[e + oh * wd + ow]; phase f = a * S + b has nt[f] taps, tap n reads weight tw[f][n]
     * and db shifted by toff[f][n]; Q_f holds lq floats, Q_f[(r - rlo) * wd + c - clo] (outputs past a row's end
     * unused). */
    int wd, rlo, clo, nt[4], tw[4][DWB_TAPS];
    long e, lq, dx_b, toff[4][DWB_TAPS];
    /* dw: a plane A of la floats (zero past its data) times B shifted by boff[ki * K + kj]; row stride wa;
     * stride 1: A = x, dy at B[ea + oh * wa + ow]; stride 2: A = dy, phase (a, b) of x at B[(2 a + b) * ps]. */
    int wa;
    long ea, la, ps, dw_b, boff[DWB_TAPS];
    long ev_at, od_at; /* stride 2: where an input row's even and odd columns start, from its phase row pair */
    /* forward: x laid out in F (fb floats), at F[fe + ih * wa + iw] (stride 1) or as dw's phases B (stride 2);
     * y[oh][ow] = b + Y[oh * wa + ow] with Y[j] = sum_t w[t] F[j + foff[t]] for j < ly (a multiple of 8). */
    long fe, fb, ly, foff[DWB_TAPS];
    int ok;            /* 0: a layout assumption failed (the generic path runs instead) */
    long per_thread;     /* backward scratch floats per thread (a multiple of 16: 64-byte aligned) */
    long fwd_per_thread; /* the same for the forward */
} DwbPlan;

static long lmax(long a, long b) { return a > b ? a : b; }

static void dwb_plan(const ConvGeom *c, DwbPlan *p)
{
    int K = c->kh, S = c->sh, M = (K - 1) / S; /* M: the largest t in a phase */
    /* dx: output rows r in [rlo, rhi), columns c in [clo, chi) of every phase cover the input. */
    int rlo = c->ph / S, rhi = (c->ph + c->H - 1) / S + 1, clo = c->pw / S, chi = (c->pw + c->W - 1) / S + 1;
    /* Reads of dy columns c - t' in [clo - M, chi) outside [0, Wo) must land in the gap between rows. */
    int gap = (int)lmax(0, lmax(M - clo, chi - c->Wo));
    p->wd = c->Wo + gap, p->rlo = rlo, p->clo = clo;
    p->lq = up8((long)(rhi - rlo) * p->wd);
    long base = (long)rlo * p->wd + clo, lowest = base - (long)M * p->wd - M;
    p->e = lowest < 0 ? -lowest : 0;
    p->dx_b = up8(lmax(p->e + (long)(c->Ho - 1) * p->wd + c->Wo, p->e + base + p->lq));
    for (int a = 0; a < S; a++)
        for (int b = 0; b < S; b++) {
            int f = a * S + b, n = 0;
            for (int t = 0; a + S * t < K; t++)
                for (int u = 0; b + S * u < K; u++, n++) {
                    p->tw[f][n] = (a + S * t) * K + b + S * u;
                    p->toff[f][n] = p->e + base - (long)t * p->wd - u;
                }
            p->nt[f] = n;
        }
    /* dw */
    if (S == 1) {
        /* x rows need wa >= W + pw (reads to the right stay in the row's gap) and dy rows a gap of K - 1 - pw. */
        p->wa = (int)lmax(c->W + c->pw, c->Wo + K - 1 - c->pw);
        p->la = up8((long)c->H * p->wa);
        long lo = (long)(c->ph - K + 1) * p->wa + c->pw - K + 1;
        p->ea = lo < 0 ? -lo : 0;
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) p->boff[ki * K + kj] = p->ea + (long)(c->ph - ki) * p->wa + c->pw - kj;
        p->ps = p->ev_at = p->od_at = 0, p->ok = 1;
        p->dw_b = up8(lmax(p->ea + (long)(c->Ho - 1) * p->wa + c->Wo, p->ea + p->la + (long)c->ph * p->wa + c->pw));
        /* Forward: x's row ih is F's row ih + ph from column pw; tap (ki, kj) of output j = oh * wa + ow reads
         * F's row oh + ki, column ow + kj < Wo + K - 1 <= wa + pw: past wa it is the next row's left padding
         * (wa >= W + pw keeps each row's data clear of it). */
        p->fe = (long)c->ph * p->wa + c->pw;
        p->ly = up8((long)c->Ho * p->wa);
        p->fb = up8(lmax(p->fe + (long)(c->H - 1) * p->wa + c->W, p->ly + (long)(K - 1) * p->wa + K - 1));
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) p->foff[ki * K + kj] = (long)ki * p->wa + kj;
    } else {
        /* Phase rows r in [0, Ho + M), columns in [0, Wo + M): no read wraps into the next row. */
        p->wa = c->Wo + M;
        p->la = up8((long)c->Ho * p->wa);
        p->ps = up8(p->la + (long)M * p->wa + M);
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++)
                p->boff[ki * K + kj] = ((ki % 2) * 2 + kj % 2) * p->ps + (long)(ki / 2) * p->wa + kj / 2;
        p->ea = 0;
        p->dw_b = 4 * p->ps;
        /* Input column iw = 2 g + b - pw is column g of phase b: the even columns iw = 2 m go to phase be = pw % 2,
         * the odd ones to the other, bo, each at g = m - sh with sh = floor((b - pw) / 2) <= 0. Every input row and
         * column lands inside the phase planes (so far true of every geometry; else the generic path runs). */
        int be = c->pw & 1, bo = be ^ 1;
        int she = (be - c->pw) / 2, sho = (bo - c->pw - 1) / 2; /* both exact divisions */
        p->ev_at = (long)be * p->ps - she, p->od_at = (long)bo * p->ps - sho;
        p->ok = (c->W + 1) / 2 - she <= p->wa && c->W / 2 - sho <= p->wa && (c->H - 1 + c->ph) / 2 < c->Ho + M;
        /* Forward: y[oh][ow] = sum w[ki][kj] X_ab[oh + ki / 2][ow + kj / 2], the sums dw takes with dy's place
         * and x's swapped: x in B's layout, the same offsets, la outputs. */
        p->fe = 0, p->fb = p->dw_b, p->ly = p->la;
        memcpy(p->foff, p->boff, sizeof p->foff);
    }
    p->per_thread = (lmax(p->dx_b + (long)S * S * p->lq, p->la + p->dw_b) + 15) & ~15L;
    p->fwd_per_thread = (p->fb + p->ly + 15) & ~15L;
}

/* Q[j] = sum over NT taps of wt[t] * db[j + off[t]], for j < lq (a multiple of 8): dx's phases and the forward's
 * output. Each j's sum runs in an order fixed by j's block and NT alone. */
static inline __attribute__((always_inline)) void dwb_taps(const float *restrict db, const long *off,
                                                           const float *wt, long lq, float *restrict Q, const int NT)
{
    long j = 0;
    for (; j + 32 <= lq; j += 32) {
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
#pragma GCC unroll 25
        for (int t = 0; t < NT; t++) {
            const float *s = db + off[t] + j;
            float wv = wt[t];
            a0 += wv * LD8(s), a1 += wv * LD8(s + 8), a2 += wv * LD8(s + 16), a3 += wv * LD8(s + 24);
        }
        ST8(Q + j, a0), ST8(Q + j + 8, a1), ST8(Q + j + 16, a2), ST8(Q + j + 24, a3);
    }
    for (; j < lq; j += 8) { /* two chains, even and odd taps (on small planes this loop is all there is) */
        v8f a0 = {0}, a1 = {0};
#pragma GCC unroll 25
        for (int t = 0; t + 1 < NT; t += 2)
            a0 += wt[t] * LD8(db + off[t] + j), a1 += wt[t + 1] * LD8(db + off[t + 1] + j);
        if (NT & 1) a0 += wt[NT - 1] * LD8(db + off[NT - 1] + j);
        ST8(Q + j, a0 + a1);
    }
}

/* One plane's dx (K, S constants after inlining); db: the dy copy (zeros in place), Q: S * S * lq floats. */
static inline __attribute__((always_inline)) void dwb_dx_plane(const ConvGeom *c, const DwbPlan *p,
                                                               const float *dyp, const float *wk, float *dxp,
                                                               float *db, float *Q, const int K, const int S)
{
    dwb_copy_rows(db + p->e, p->wd, dyp, c->Wo, c->Ho);
    float wt[4][DWB_TAPS];
    for (int f = 0; f < S * S; f++)
        for (int t = 0; t < p->nt[f]; t++) wt[f][t] = wk[p->tw[f][t]];
    if (S == 1) {
        dwb_taps(db, p->toff[0], wt[0], p->lq, Q, K * K);
        for (int ih = 0; ih < c->H; ih++) { /* rlo = ph, clo = pw */
            float *restrict dxr = dxp + (long)ih * c->W;
            const float *restrict qr = Q + (long)ih * p->wd;
#pragma omp simd
            for (int iw = 0; iw < c->W; iw++) dxr[iw] += qr[iw];
        }
        return;
    }
    const int T0 = (K + 1) / 2, T1 = K / 2; /* taps of phase 0 and phase 1 along one axis */
    dwb_taps(db, p->toff[0], wt[0], p->lq, Q, T0 * T0);
    dwb_taps(db, p->toff[1], wt[1], p->lq, Q + p->lq, T0 * T1);
    dwb_taps(db, p->toff[2], wt[2], p->lq, Q + 2 * p->lq, T1 * T0);
    dwb_taps(db, p->toff[3], wt[3], p->lq, Q + 3 * p->lq, T1 * T1);
    /* Even columns iw = 2m read phase b = pw % 2 at c = m + pw / 2, odd ones the other phase at m + (pw + 1) / 2;
     * with clo = pw / 2 those are Q offsets m and m + pw % 2 in row r - rlo. */
    int be = c->pw & 1, half = c->W / 2;
    for (int ih = 0; ih < c->H; ih++) {
        int u = ih + c->ph, a = u & 1;
        long row = (long)((u >> 1) - p->rlo) * p->wd;
        const float *restrict qe = Q + (2 * a + be) * p->lq + row;
        const float *restrict qo = Q + (2 * a + (be ^ 1)) * p->lq + row + be;
        float *restrict dxr = dxp + (long)ih * c->W;
        for (int m = 0; m < half; m++) dxr[2 * m] += qe[m], dxr[2 * m + 1] += qo[m];
        if (c->W & 1) dxr[c->W - 1] += qe[half];
    }
}

/* acc[t] += sum_i A[i] * B[i + off[t]] for i < la (a multiple of 8). */
static inline __attribute__((always_inline)) void dwb_dw_dots(const float *restrict A, const float *restrict B,
                                                              const long *off, long la, v8f *restrict acc,
                                                              const int NT)
{
    for (long i = 0; i < la; i += 8) {
        v8f av = LD8(A + i);
#pragma GCC unroll 25
        for (int t = 0; t < NT; t++) acc[t] += av * LD8(B + off[t] + i);
    }
}

/* ev[m] = xr[2 m] for m < (W + 1) / 2, od[m] = xr[2 m + 1] for m < W / 2. */
static void dwb_deinterleave(const float *restrict xr, int W, float *restrict ev, float *restrict od)
{
    int m = 0, n = W / 2;
    for (; m + 8 <= n; m += 8) {
        v8f lo = LD8(xr + 2 * m), hi = LD8(xr + 2 * m + 8);
        ST8(ev + m, __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14));
        ST8(od + m, __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15));
    }
    for (; m < n; m++) ev[m] = xr[2 * m], od[m] = xr[2 * m + 1];
    if (W & 1) ev[n] = xr[W - 1];
}

/* Plane xp's stride-2 phases into B (their zeros in place). */
static inline __attribute__((always_inline)) void dwb_phases(const ConvGeom *c, const DwbPlan *p, const float *xp,
                                                              float *B)
{
    for (int ih = 0; ih < c->H; ih++) {
        int u = ih + c->ph;
        float *row = B + (u & 1) * 2 * p->ps + (long)(u >> 1) * p->wa;
        dwb_deinterleave(xp + (long)ih * c->W, c->W, row + p->ev_at, row + p->od_at);
    }
}

/* One channel's dw over the batch (K, S constants after inlining); A, B: the scratch copies (zeros in place). */
static inline __attribute__((always_inline)) void dwb_dw_channel(const ConvGeom *c, const DwbPlan *p,
                                                                 const float *x, const float *dy, int ch, float *dwk,
                                                                 float *A, float *B, const int K, const int S)
{
    v8f acc[DWB_TAPS];
    for (int t = 0; t < K * K; t++) acc[t] = (v8f){0};
    long in_hw = (long)c->H * c->W, hw = (long)c->Ho * c->Wo;
    for (int n = 0; n < c->N; n++) {
        long pl = (long)n * c->Cout + ch;
        const float *xp = x + pl * in_hw, *dyp = dy + pl * hw;
        if (S == 1) {
            dwb_copy_rows(A, p->wa, xp, c->W, c->H);
            dwb_copy_rows(B + p->ea, p->wa, dyp, c->Wo, c->Ho);
        } else {
            dwb_copy_rows(A, p->wa, dyp, c->Wo, c->Ho);
            dwb_phases(c, p, xp, B);
        }
        dwb_dw_dots(A, B, p->boff, p->la, acc, K * K);
    }
    for (int t = 0; t < K * K; t++) {
        float s = 0;
        for (int l = 0; l < 8; l++) s += acc[t][l];
        dwk[t] += s;
    }
}

/* The fast paths' settings: a square 3x3 or 5x5 filter, the same stride 1 or 2 both ways, dilation 1. */
static int dw_fast_shape(const ConvGeom *c)
{
    return c->kh == c->kw && (c->kh == 3 || c->kh == 5) && c->sh == c->sw && (c->sh == 1 || c->sh == 2) &&
           c->dh == 1 && c->dw == 1;
}

/* Calls fn(args..., K, S) with K and S constants, for kind = (K == 5) * 2 + (S == 2) (a dw_fast_shape). */
#define DW_DISPATCH(kind, fn, ...)                                                                                   \
    switch (kind) {                                                                                                  \
    case 0: fn(__VA_ARGS__, 3, 1); break;                                                                            \
    case 1: fn(__VA_ARGS__, 3, 2); break;                                                                            \
    case 2: fn(__VA_ARGS__, 5, 1); break;                                                                            \
    default: fn(__VA_ARGS__, 5, 2); break;                                                                           \
    }

/* The fast paths' plan and per-thread scratch (the forward's size when fwd); NULL when the settings are not
 * theirs, a layout assumption fails or the arena has no room. */
static float *dwb_setup(Graph *g, const ConvGeom *c, DwbPlan *p, int fwd)
{
    if (!dw_fast_shape(c)) return NULL;
    dwb_plan(c, p);
    if (!p->ok) return NULL;
    long per = fwd ? p->fwd_per_thread : p->per_thread;
    return arena_alloc(graph_arena(g), (size_t)omp_get_max_threads() * per * sizeof(float));
}

/* The fast path; -1 (nothing done) when the settings are not its own or its scratch cannot be had. */
static int depthwise_backward_fast(Graph *g, const ConvGeom *c, const float *x, const float *w, const float *dy,
                                   float *dx, float *dwt)
{
    DwbPlan p;
    float *scratch = dwb_setup(g, c, &p, 0);
    if (!scratch) return -1;
    int K = c->kh, kind = (K == 5) * 2 + (c->sh == 2);
    long planes = (long)c->N * c->Cout, hw = (long)c->Ho * c->Wo, in_hw = (long)c->H * c->W;
    long work = planes * hw * K * K;
    if (dx) {
#pragma omp parallel if (work > PAR_MIN_WORK)
        {
            float *db = scratch + omp_get_thread_num() * p.per_thread, *Q = db + p.dx_b;
            memset(db, 0, (size_t)p.dx_b * sizeof *db);
#pragma omp for schedule(static)
            for (long pl = 0; pl < planes; pl++) {
                const float *dyp = dy + pl * hw, *wk = w + (pl % c->Cout) * K * K;
                float *dxp = dx + pl * in_hw;
                DW_DISPATCH(kind, dwb_dx_plane, c, &p, dyp, wk, dxp, db, Q)
            }
        }
    }
    if (dwt) {
#pragma omp parallel if (work > PAR_MIN_WORK)
        {
            float *A = scratch + omp_get_thread_num() * p.per_thread, *B = A + p.la;
            memset(A, 0, (size_t)(p.la + p.dw_b) * sizeof *A);
#pragma omp for schedule(static)
            for (int ch = 0; ch < c->Cout; ch++) {
                float *dwk = dwt + (long)ch * K * K;
                DW_DISPATCH(kind, dwb_dw_channel, c, &p, x, dy, ch, dwk, A, B)
            }
        }
    }
    return 0;
}

static void depthwise_backward(Graph *g, const ConvGeom *c, const float *x, const float *w, const float *dy,
                               float *dx, float *dwt)
{
    if (depthwise_backward_fast(g, c, x, w, dy, dx, dwt)) depthwise_backward_generic(c, x, w, dy, dx, dwt);
}

/* ---- depthwise forward, fast path: the backward's settings and layouts ----
 * Each plane is copied into the zero-padded flat layout (stride 1: rows of wa floats; stride 2: its four phases,
 * laid out as dw's x), then every output is its K*K taps summed in a fixed order by dwb_taps, plus the bias: no
 * bounds checks, and vectors that run across output rows (the flat plane's few padding columns ride along, their
 * outputs dropped). Parallel over planes, so results do not depend on the thread count. */
static inline __attribute__((always_inline)) void dwf_plane(const ConvGeom *c, const DwbPlan *p, const float *xp,
                                                            const float *wk, float b, float *yp, float *F, float *Y,
                                                            const int K, const int S)
{
    if (S == 1) dwb_copy_rows(F + p->fe, p->wa, xp, c->W, c->H);
    else dwb_phases(c, p, xp, F);
    dwb_taps(F, p->foff, wk, p->ly, Y, K * K);
    for (int oh = 0; oh < c->Ho; oh++) {
        float *restrict yr = yp + (long)oh * c->Wo;
        const float *restrict yq = Y + (long)oh * p->wa;
#pragma omp simd
        for (int ow = 0; ow < c->Wo; ow++) yr[ow] = yq[ow] + b;
    }
}

/* The fast path; -1 (nothing done) when the settings are not its own or its scratch cannot be had. */
static int depthwise_forward_fast(Graph *g, const ConvGeom *c, const float *x, const float *w, const float *bias,
                                  float *y)
{
    DwbPlan p;
    float *scratch = dwb_setup(g, c, &p, 1);
    if (!scratch) return -1;
    int K = c->kh, kind = (K == 5) * 2 + (c->sh == 2);
    long planes = (long)c->N * c->Cout, hw = (long)c->Ho * c->Wo, in_hw = (long)c->H * c->W;
#pragma omp parallel if (planes * hw * K * K > PAR_MIN_WORK)
    {
        float *F = scratch + omp_get_thread_num() * p.fwd_per_thread, *Y = F + p.fb;
        memset(F, 0, (size_t)p.fb * sizeof *F);
#pragma omp for schedule(static)
        for (long pl = 0; pl < planes; pl++) {
            int ch = (int)(pl % c->Cout);
            const float *xp = x + pl * in_hw, *wk = w + (long)ch * K * K;
            float b = bias ? bias[ch] : 0.0f, *yp = y + pl * hw;
            DW_DISPATCH(kind, dwf_plane, c, &p, xp, wk, b, yp, F, Y)
        }
    }
    return 0;
}

/* y = the depthwise convolution of x (plus bias); the fast path's scratch from g's arena. */
static void depthwise_forward(Graph *g, const ConvGeom *c, const float *x, const float *w, const float *bias, float *y)
{
    if (depthwise_forward_fast(g, c, x, w, bias, y)) depthwise_forward_generic(c, x, w, bias, y);
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
        depthwise_backward(g, &c, x->data, w->data, dy, dx, dw);
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
        depthwise_forward(g, &c, x->data, w->data, bias ? bias->data : NULL, y->data);
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
