/* The AArch64 int8 GEMM kernel (see int8_gemm.h): NEON with the dot-product extension (ARMv8.2-A
 * sdot, e.g. the Cortex-A78AE of a Jetson Orin), compiled for it with a target attribute and called
 * only when the CPU reports it (i8_neon_dot_available: getauxval(AT_HWCAP) & HWCAP_ASIMDDP).
 *
 * sdot multiplies signed by signed bytes, A is unsigned: with A' = A xor 0x80 = A - 128 (as s8),
 *   sum_k A W = sum_k A' W + 128 wsum[n]
 * exactly (the packed padding of W is 0, so A's padding bytes, whatever they hold, add nothing).
 * A packed block of 16 channels x 4 k is four 16-byte vectors of 4 channels x 4 k; one sdot by lane
 * adds one row's 4 bytes times each channel's 4 weights. 4 rows x 16 channels = 16 accumulators.
 * The int32 sums are exact, so their order does not matter; the epilogue does the float operations of
 * i8_epilogue_one one by one (no fused multiply-add; relu and hardswish by compare and select, as the
 * reference's ?: does, NaN and -0 included), and the channels past the last multiple of 4 go through
 * i8_epilogue_one itself. Bit-identical to I8_REF. Proven under qemu by scripts/test-arm-int8.sh.
 * Built where I8_HAVE_NEON_DOT (int8_gemm.h): AArch64 with GCC, or clang targeting the dot product. */
#include "tensor/int8_gemm.h"

#if I8_HAVE_NEON_DOT

#include <arm_neon.h>
#include <string.h>
#include <sys/auxv.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* linux arch/arm64 uapi hwcap.h */
#endif

int i8_neon_dot_available(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

#if defined(__clang__)
#define DOT_TARGET __attribute__((target("dotprod")))
#else
#define DOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

DOT_TARGET static ALWAYS_INLINE float32x4_t dot_act(int act, float32x4_t y)
{
    const float32x4_t zero = vdupq_n_f32(0.0f);
    if (act == I8_ACT_RELU) return vbslq_f32(vcgtq_f32(y, zero), y, zero); /* y > 0 ? y : 0 */
    if (act == I8_ACT_HARDSWISH) {
        const float32x4_t three = vdupq_n_f32(3.0f);
        float32x4_t t = vdivq_f32(vmulq_f32(y, vaddq_f32(y, three)), vdupq_n_f32(6.0f));
        t = vbslq_f32(vcgeq_f32(y, three), y, t);                   /* y >= 3 ? y : t */
        return vbslq_f32(vcleq_f32(y, vdupq_n_f32(-3.0f)), zero, t); /* y <= -3 ? 0 : ... */
    }
    return y;
}

/* Rows m0 .. m0+MR-1 (MR <= 4) x block b (16 channels). */
DOT_TARGET static ALWAYS_INLINE void dot_tile(const int MR, const uint8_t *A, int lda, const I8Weights *W,
                                              const I8Epilogue *e, int m0, int b, float *C, int ldc)
{
    const int kq = W->kp / 4;
    const int8_t *Wb = W->w + (long)b * kq * 64;
    const uint8_t *Am = A + (long)m0 * lda;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    int32x4_t acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = vdupq_n_s32(0);
    int q = 0;
    for (; q + 4 <= kq; q += 4) { /* 16 bytes of each row: 4 groups of 4 k */
        int8x16_t a[4];
        for (int i = 0; i < MR; i++)
            a[i] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(Am + (long)i * lda + 4 * q), flip));
#define DOT_LANE(l)                                                                                    \
    do {                                                                                               \
        int8x16_t w0 = vld1q_s8(Wb + (long)(q + (l)) * 64), w1 = vld1q_s8(Wb + (long)(q + (l)) * 64 + 16); \
        int8x16_t w2 = vld1q_s8(Wb + (long)(q + (l)) * 64 + 32), w3 = vld1q_s8(Wb + (long)(q + (l)) * 64 + 48); \
        for (int i = 0; i < MR; i++) {                                                                 \
            acc[i][0] = vdotq_laneq_s32(acc[i][0], w0, a[i], l);                                       \
            acc[i][1] = vdotq_laneq_s32(acc[i][1], w1, a[i], l);                                       \
            acc[i][2] = vdotq_laneq_s32(acc[i][2], w2, a[i], l);                                       \
            acc[i][3] = vdotq_laneq_s32(acc[i][3], w3, a[i], l);                                       \
        }                                                                                              \
    } while (0)
        DOT_LANE(0);
        DOT_LANE(1);
        DOT_LANE(2);
        DOT_LANE(3);
#undef DOT_LANE
    }
    for (; q < kq; q++) { /* the last groups of 4 k, one at a time */
        int8x16_t w[4];
        for (int j = 0; j < 4; j++) w[j] = vld1q_s8(Wb + (long)q * 64 + 16 * j);
        for (int i = 0; i < MR; i++) {
            uint32_t a4;
            memcpy(&a4, Am + (long)i * lda + 4 * q, 4);
            int8x16_t av = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(a4)), flip));
            for (int j = 0; j < 4; j++) acc[i][j] = vdotq_s32(acc[i][j], w[j], av);
        }
    }
    /* acc' = acc + 128 wsum; the epilogue subtracts zero * wsum: one correction (128 - zero) * wsum,
     * the same int32 value modulo 2^32 as the reference's acc - zero * wsum */
    const int32x4_t corr = vdupq_n_s32(128 - e->zero);
    for (int j = 0; j < 4; j++) {
        int n = b * 16 + 4 * j;
        if (n >= W->n) break;
        if (W->n - n < 4) { /* the tail: the scalar epilogue, with the reference's own accumulator */
            for (int i = 0; i < MR; i++) {
                int32_t s[4];
                vst1q_s32(s, acc[i][j]);
                for (int c = 0; n + c < W->n; c++) {
                    int32_t a_true = (int32_t)((uint32_t)s[c] + 128u * (uint32_t)W->wsum[n + c]);
                    C[(long)(m0 + i) * ldc + n + c] = i8_epilogue_one(e, W, a_true, m0 + i, n + c);
                }
            }
            continue;
        }
        int32x4_t zs = vmulq_s32(vld1q_s32(W->wsum + n), corr);
        float32x4_t sc = vld1q_f32(e->scale + n);
        float32x4_t bi = e->bias ? vld1q_f32(e->bias + n) : vdupq_n_f32(0.0f);
        for (int i = 0; i < MR; i++) {
            float32x4_t y = vmulq_f32(vcvtq_f32_s32(vaddq_s32(acc[i][j], zs)), sc);
            if (e->bias) y = vaddq_f32(y, bi);
            y = dot_act(e->act, y);
            if (e->add) y = vaddq_f32(y, vld1q_f32(e->add + (long)(m0 + i) * e->ldadd + n));
            vst1q_f32(C + (long)(m0 + i) * ldc + n, y);
        }
    }
}

DOT_TARGET void i8_gemm_neon_dot(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e,
                                 float *C, int ldc)
{
    for (int b = 0; b < W->nblocks; b++) {
        int m0 = 0;
        for (; m0 + 4 <= M; m0 += 4) dot_tile(4, A, lda, W, e, m0, b, C, ldc);
        switch (M - m0) {
        case 3: dot_tile(3, A, lda, W, e, m0, b, C, ldc); break;
        case 2: dot_tile(2, A, lda, W, e, m0, b, C, ldc); break;
        case 1: dot_tile(1, A, lda, W, e, m0, b, C, ldc); break;
        default: break;
        }
    }
}

#else
typedef int i8_no_arm_kernels; /* an empty file is not valid C */
#endif
