/* The int8 engine's fp32 convs, channels-last (see policy_int8.h): the stem (3 input channels, from
 * the CHW frame) and the depthwise convs. Each output pixel is computed 16 (then 8, then 1) channels
 * at a time in an accumulator held in vector registers (GCC vector extensions: whatever SIMD the
 * build targets, scalar code otherwise); bias and activation are applied before the one store. The
 * arithmetic per element is the plain C one (multiply, then add; i8_act's activations). */
#include "models/policy_int8_internal.h"

#include <string.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/* One chunk type: load, store, activation in place (vectors passed by pointer: no vector ABI involved). */
#define CHUNK_OPS(VF, VI, N)                                                                                     \
    static ALWAYS_INLINE void load_##VF(VF *v, const float *p) { memcpy(v, p, sizeof *v); }                     \
    static ALWAYS_INLINE void store_##VF(float *p, const VF *v) { memcpy(p, v, sizeof *v); }                    \
    static ALWAYS_INLINE void act_##VF(int act, VF *y)                                                           \
    {                                                                                                            \
        const VF zero = {0}, three = zero + 3.0f;                                                                \
        if (act == I8_ACT_RELU) *y = (VF)((VI)*y & (*y > zero)); /* -0, NaN -> +0 as y > 0 ? y : 0 */           \
        if (act != I8_ACT_HARDSWISH) return;                                                                     \
        VF t = *y * (*y + three) / (zero + 6.0f);                                                                \
        VI ge = *y >= three, le = *y <= -three;                                                                  \
        t = (VF)(((VI)t & ~ge) | ((VI)*y & ge));                                                                 \
        *y = (VF)((VI)t & ~le);                                                                                  \
    }

CHUNK_OPS(v16f, v16i, 16)
CHUNK_OPS(v8f, v8i, 8)

/* The taps of a k x k window at (ih0, iw0) that fall inside the image: rows [ki0, ki1), columns
 * [kj0, kj1). A window wholly inside with k known at compile time (taps_all) unrolls the loops. */
typedef struct {
    int ih0, iw0, ki0, ki1, kj0, kj1;
} Taps;

static ALWAYS_INLINE Taps taps_inside(int ih0, int iw0, int k, int H, int W)
{
    return (Taps){ih0, iw0, ih0 < 0 ? -ih0 : 0, ih0 + k > H ? H - ih0 : k, iw0 < 0 ? -iw0 : 0, iw0 + k > W ? W - iw0 : k};
}

static ALWAYS_INLINE Taps taps_all(int ih0, int iw0, int k) { return (Taps){ih0, iw0, 0, k, 0, k}; }

static ALWAYS_INLINE int taps_whole(Taps t, int k) { return t.ki0 == 0 && t.kj0 == 0 && t.ki1 == k && t.kj1 == k; }

/* ---- stem ---- */

/* Output channels [c0, c0 + N) of one pixel (k x k x 3 taps t, CHW input). */
#define STEM_CHUNK(VF, N)                                                                                        \
    static ALWAYS_INLINE void stem_##VF(const float *x, int H, int W, const float *w, const float *bias, int C,   \
                                        int k, Taps t, int c0, int act, float *out)                              \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ci = 0; ci < 3; ci++)                                                                           \
            for (int ki = t.ki0; ki < t.ki1; ki++)                                                               \
                for (int kj = t.kj0; kj < t.kj1; kj++) {                                                         \
                    VF wv;                                                                                       \
                    load_##VF(&wv, w + (long)((ci * k + ki) * k + kj) * C + c0);                                 \
                    acc = acc + x[((long)ci * H + t.ih0 + ki) * W + t.iw0 + kj] * wv;                            \
                }                                                                                                \
        act_##VF(act, &acc);                                                                                     \
        store_##VF(out + c0, &acc);                                                                              \
    }

STEM_CHUNK(v16f, 16)
STEM_CHUNK(v8f, 8)

static void stem_one(const float *x, int H, int W, const float *w, const float *bias, int C, int k, Taps t, int c,
                     int act, float *out)
{
    float acc = bias ? bias[c] : 0.0f;
    for (int ci = 0; ci < 3; ci++)
        for (int ki = t.ki0; ki < t.ki1; ki++)
            for (int kj = t.kj0; kj < t.kj1; kj++)
                acc = acc + x[((long)ci * H + t.ih0 + ki) * W + t.iw0 + kj] * w[(long)((ci * k + ki) * k + kj) * C + c];
    out[c] = i8_act(act, acc);
}

I8_CLONES void nhwc_stem_conv(const float *x, int H, int W, const float *w, const float *bias, int C, int k, Conv2dOpts o,
                    int act, float *y, int Ho, int Wo)
{
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float *out = y + ((long)oh * Wo + ow) * C;
            int ih0 = oh * o.stride_h - o.pad_h, iw0 = ow * o.stride_w - o.pad_w, c0 = 0;
            Taps t = taps_inside(ih0, iw0, k, H, W);
            if (k == 3 && taps_whole(t, 3)) { /* k a constant: the taps unroll */
                for (; c0 + 16 <= C; c0 += 16) stem_v16f(x, H, W, w, bias, C, 3, taps_all(ih0, iw0, 3), c0, act, out);
                for (; c0 + 8 <= C; c0 += 8) stem_v8f(x, H, W, w, bias, C, 3, taps_all(ih0, iw0, 3), c0, act, out);
            }
            for (; c0 + 16 <= C; c0 += 16) stem_v16f(x, H, W, w, bias, C, k, t, c0, act, out);
            for (; c0 + 8 <= C; c0 += 8) stem_v8f(x, H, W, w, bias, C, k, t, c0, act, out);
            for (; c0 < C; c0++) stem_one(x, H, W, w, bias, C, k, t, c0, act, out);
        }
}

/* ---- depthwise ---- */

/* Channels [c0, c0 + N) of one pixel (k x k taps t, HWC input). */
#define DW_CHUNK(VF, N)                                                                                          \
    static ALWAYS_INLINE void dw_##VF(const float *x, int W, int C, const float *w, const float *bias, int k,     \
                                      Taps t, int c0, int act, float *out)                                       \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        long at = ((long)t.ih0 * W + t.iw0) * C + c0; /* the window's top-left, maybe outside */                \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ki = t.ki0; ki < t.ki1; ki++)                                                                   \
            for (int kj = t.kj0; kj < t.kj1; kj++) {                                                             \
                VF xv, wv;                                                                                       \
                load_##VF(&xv, x + (at + ((long)ki * W + kj) * C));                                              \
                load_##VF(&wv, w + (long)(ki * k + kj) * C + c0);                                                \
                acc = acc + xv * wv;                                                                             \
            }                                                                                                    \
        act_##VF(act, &acc);                                                                                     \
        store_##VF(out + c0, &acc);                                                                              \
    }

DW_CHUNK(v16f, 16)
DW_CHUNK(v8f, 8)

static void dw_one(const float *x, int W, int C, const float *w, const float *bias, int k, Taps t, int c, int act,
                   float *out)
{
    float acc = bias ? bias[c] : 0.0f;
    for (int ki = t.ki0; ki < t.ki1; ki++)
        for (int kj = t.kj0; kj < t.kj1; kj++)
            acc = acc + x[((long)(t.ih0 + ki) * W + t.iw0 + kj) * C + c] * w[(long)(ki * k + kj) * C + c];
    out[c] = i8_act(act, acc);
}

I8_CLONES void nhwc_depthwise(const float *x, int H, int W, int C, const float *w, const float *bias, int k, int s, int act,
                    float *y, int Ho, int Wo)
{
    int pad = k / 2;
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float *out = y + ((long)oh * Wo + ow) * C;
            int ih0 = oh * s - pad, iw0 = ow * s - pad, c0 = 0;
            Taps t = taps_inside(ih0, iw0, k, H, W);
            if (k == 3 && taps_whole(t, 3)) { /* k a constant: the taps unroll */
                for (; c0 + 16 <= C; c0 += 16) dw_v16f(x, W, C, w, bias, 3, taps_all(ih0, iw0, 3), c0, act, out);
                for (; c0 + 8 <= C; c0 += 8) dw_v8f(x, W, C, w, bias, 3, taps_all(ih0, iw0, 3), c0, act, out);
            } else if (k == 5 && taps_whole(t, 5)) {
                for (; c0 + 16 <= C; c0 += 16) dw_v16f(x, W, C, w, bias, 5, taps_all(ih0, iw0, 5), c0, act, out);
                for (; c0 + 8 <= C; c0 += 8) dw_v8f(x, W, C, w, bias, 5, taps_all(ih0, iw0, 5), c0, act, out);
            }
            for (; c0 + 16 <= C; c0 += 16) dw_v16f(x, W, C, w, bias, k, t, c0, act, out);
            for (; c0 + 8 <= C; c0 += 8) dw_v8f(x, W, C, w, bias, k, t, c0, act, out);
            for (; c0 < C; c0++) dw_one(x, W, C, w, bias, k, t, c0, act, out);
        }
}
