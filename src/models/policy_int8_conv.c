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

/* ---- stem ---- */

#define STEM_CHUNK(VF, N)                                                                                        \
    static ALWAYS_INLINE void stem_##VF(const float *x, int H, int W, const float *w, const float *bias, int C,   \
                                        int k, int ih0, int iw0, int c0, int act, float *out)                    \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ci = 0; ci < 3; ci++)                                                                           \
            for (int ki = 0; ki < k; ki++) {                                                                     \
                int ih = ih0 + ki;                                                                               \
                if (ih < 0 || ih >= H) continue;                                                                 \
                for (int kj = 0; kj < k; kj++) {                                                                 \
                    int iw = iw0 + kj;                                                                           \
                    if (iw < 0 || iw >= W) continue;                                                             \
                    float v = x[((long)ci * H + ih) * W + iw];                                                   \
                    VF wv;                                                                                       \
                    load_##VF(&wv, w + (long)((ci * k + ki) * k + kj) * C + c0);                                 \
                    acc = acc + v * wv;                                                                          \
                }                                                                                                \
            }                                                                                                    \
        act_##VF(act, &acc);                                                                                 \
        store_##VF(out + c0, &acc);                                                                \
    }

STEM_CHUNK(v16f, 16)
STEM_CHUNK(v8f, 8)

/* A window inside the image, kernel K known at compile time: no bounds checks, the taps unrolled.
 * x0: the window's top-left input value of channel 0. */
#define STEM_INTERIOR(VF, K)                                                                                     \
    static ALWAYS_INLINE void stem_in_##VF##_##K(const float *x0, long plane, int W, const float *w,              \
                                                 const float *bias, int C, int c0, int act, float *out)          \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ci = 0; ci < 3; ci++)                                                                           \
            for (int ki = 0; ki < K; ki++)                                                                       \
                for (int kj = 0; kj < K; kj++)                                                                   \
                    {                                                                                            \
                        VF wv;                                                                                   \
                        load_##VF(&wv, w + (long)((ci * K + ki) * K + kj) * C + c0);                             \
                        acc = acc + x0[ci * plane + (long)ki * W + kj] * wv;                                     \
                    }                                                                                            \
        act_##VF(act, &acc);                                                                                 \
        store_##VF(out + c0, &acc);                                                                \
    }

STEM_INTERIOR(v16f, 3)
STEM_INTERIOR(v8f, 3)

static void stem_one(const float *x, int H, int W, const float *w, const float *bias, int C, int k, int ih0, int iw0,
                     int c, int act, float *out)
{
    float acc = bias ? bias[c] : 0.0f;
    for (int ci = 0; ci < 3; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                int ih = ih0 + ki, iw = iw0 + kj;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                    acc = acc + x[((long)ci * H + ih) * W + iw] * w[(long)((ci * k + ki) * k + kj) * C + c];
            }
    out[c] = i8_act(act, acc);
}

I8_CLONES void nhwc_stem_conv(const float *x, int H, int W, const float *w, const float *bias, int C, int k, Conv2dOpts o,
                    int act, float *y, int Ho, int Wo)
{
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float *out = y + ((long)oh * Wo + ow) * C;
            int ih0 = oh * o.stride_h - o.pad_h, iw0 = ow * o.stride_w - o.pad_w, c0 = 0;
            if (k == 3 && ih0 >= 0 && iw0 >= 0 && ih0 + 3 <= H && iw0 + 3 <= W) {
                const float *x0 = x + (long)ih0 * W + iw0;
                for (; c0 + 16 <= C; c0 += 16) stem_in_v16f_3(x0, (long)H * W, W, w, bias, C, c0, act, out);
                for (; c0 + 8 <= C; c0 += 8) stem_in_v8f_3(x0, (long)H * W, W, w, bias, C, c0, act, out);
            }
            for (; c0 + 16 <= C; c0 += 16) stem_v16f(x, H, W, w, bias, C, k, ih0, iw0, c0, act, out);
            for (; c0 + 8 <= C; c0 += 8) stem_v8f(x, H, W, w, bias, C, k, ih0, iw0, c0, act, out);
            for (; c0 < C; c0++) stem_one(x, H, W, w, bias, C, k, ih0, iw0, c0, act, out);
        }
}

/* ---- depthwise ---- */

#define DW_CHUNK(VF, N)                                                                                          \
    static ALWAYS_INLINE void dw_##VF(const float *x, int H, int W, int C, const float *w, const float *bias,     \
                                      int k, int ih0, int iw0, int c0, int act, float *out)                      \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ki = 0; ki < k; ki++) {                                                                         \
            int ih = ih0 + ki;                                                                                   \
            if (ih < 0 || ih >= H) continue;                                                                     \
            for (int kj = 0; kj < k; kj++) {                                                                     \
                int iw = iw0 + kj;                                                                               \
                if (iw < 0 || iw >= W) continue;                                                                 \
                VF xv, wv;                                                                                       \
                load_##VF(&xv, x + ((long)ih * W + iw) * C + c0);                                                \
                load_##VF(&wv, w + (long)(ki * k + kj) * C + c0);                                                \
                acc = acc + xv * wv;                                                                             \
            }                                                                                                    \
        }                                                                                                        \
        act_##VF(act, &acc);                                                                                 \
        store_##VF(out + c0, &acc);                                                                \
    }

DW_CHUNK(v16f, 16)
DW_CHUNK(v8f, 8)

/* A window inside the input, kernel K known at compile time. x0: the window's top-left pixel. */
#define DW_INTERIOR(VF, K)                                                                                       \
    static ALWAYS_INLINE void dw_in_##VF##_##K(const float *x0, int W, int C, const float *w, const float *bias,  \
                                               int c0, int act, float *out)                                      \
    {                                                                                                            \
        VF acc = {0};                                                                                            \
        if (bias) load_##VF(&acc, bias + c0);                                                                    \
        for (int ki = 0; ki < K; ki++)                                                                           \
            for (int kj = 0; kj < K; kj++)                                                                       \
                {                                                                                                \
                VF xv, wv;                                                                                       \
                load_##VF(&xv, x0 + ((long)ki * W + kj) * C + c0);                                               \
                load_##VF(&wv, w + (long)(ki * K + kj) * C + c0);                                                \
                acc = acc + xv * wv;                                                                             \
            }                                                                                                    \
        act_##VF(act, &acc);                                                                                 \
        store_##VF(out + c0, &acc);                                                                \
    }

DW_INTERIOR(v16f, 3)
DW_INTERIOR(v8f, 3)
DW_INTERIOR(v16f, 5)
DW_INTERIOR(v8f, 5)

static void dw_one(const float *x, int H, int W, int C, const float *w, const float *bias, int k, int ih0, int iw0,
                   int c, int act, float *out)
{
    float acc = bias ? bias[c] : 0.0f;
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
            int ih = ih0 + ki, iw = iw0 + kj;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                acc = acc + x[((long)ih * W + iw) * C + c] * w[(long)(ki * k + kj) * C + c];
        }
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
            if ((k == 3 || k == 5) && ih0 >= 0 && iw0 >= 0 && ih0 + k <= H && iw0 + k <= W) {
                const float *x0 = x + ((long)ih0 * W + iw0) * C;
                if (k == 3) {
                    for (; c0 + 16 <= C; c0 += 16) dw_in_v16f_3(x0, W, C, w, bias, c0, act, out);
                    for (; c0 + 8 <= C; c0 += 8) dw_in_v8f_3(x0, W, C, w, bias, c0, act, out);
                } else {
                    for (; c0 + 16 <= C; c0 += 16) dw_in_v16f_5(x0, W, C, w, bias, c0, act, out);
                    for (; c0 + 8 <= C; c0 += 8) dw_in_v8f_5(x0, W, C, w, bias, c0, act, out);
                }
            }
            for (; c0 + 16 <= C; c0 += 16) dw_v16f(x, H, W, C, w, bias, k, ih0, iw0, c0, act, out);
            for (; c0 + 8 <= C; c0 += 8) dw_v8f(x, H, W, C, w, bias, k, ih0, iw0, c0, act, out);
            for (; c0 < C; c0++) dw_one(x, H, W, C, w, bias, k, ih0, iw0, c0, act, out);
        }
}
