/* int8 GEMM for inference: u8 activations x s8 weights -> int32 accumulators -> fp32 through a fused
 * epilogue (dequantisation, bias, activation, residual).
 *
 *   C[m][n] = epilogue(sum_k A[m][k] * W[n][k]),  A u8 [M][K] (row stride lda), W s8 [N][K]
 *   epilogue: y = (float)(acc - zero * wsum[n]) * scale[n]      (zero: A's zero point; wsum: sum_k W[n][k])
 *             y = y + bias[n]                                    (bias non-NULL)
 *             y = act(y)                                         (none, relu, hardswish as op_hardswish)
 *             y = y + add[m][n]                                  (add non-NULL)
 * With A = round(x / sa) + zero (asymmetric u8) and W = round(w / sw[n]) (symmetric s8, per output
 * channel), scale[n] = sa * sw[n] makes y the fp32 product x w^T, up to rounding.
 *
 * Weights are packed once (i8_weights_pack) into blocks of 16 output channels x 4 consecutive k:
 * [ceil(N/16)][ceil(K/4)][16][4] bytes, zero padded, which is one 512-bit VNNI operand. A's rows must
 * hold K rounded up to 4 bytes (lda >= i8_padded_k(K)); i8_quantize_rows writes them with zero padding.
 *
 * Kernels, every one bit-identical to the portable reference (the epilogue's float operations are
 * the same operations in the same order; no fused multiply-add):
 *   I8_REF          portable C
 *   I8_AVX2         x86-64 AVX2: s8/u8 widened to s16, vpmaddwd (exact: no s16 saturation)
 *   I8_AVX512_VNNI  x86-64 AVX-512 VNNI: vpdpbusd on 4 rows x 64 output channels at a time
 *   I8_NEON_DOT     AArch64 NEON dot product (ARMv8.2-A sdot, e.g. Jetson Orin): A xor 0x80 as s8, plus
 *                   128 * wsum; 4 rows x 16 channels (int8_gemm_arm.c; scripts/test-arm-int8.sh)
 * chosen at run time from the CPU (i8_kernel_best); the SIMD ones are compiled with target attributes,
 * so the build needs no -m flags and runs on any x86-64 or AArch64 (and elsewhere with the reference).
 * No threads: at the batch sizes of step mode the work is too small to share. */
#ifndef MVLA_INT8_GEMM_H
#define MVLA_INT8_GEMM_H

#include <stdint.h>

typedef enum { I8_REF = 0, I8_AVX2, I8_AVX512_VNNI, I8_NEON_DOT, I8_NKERNELS } I8Kernel;

enum { I8_ACT_NONE = 0, I8_ACT_RELU, I8_ACT_HARDSWISH };

/* Largest K: keeps every int32 accumulator exact (255 * 127 * K < 2^31). */
#define I8_MAX_K 65536

typedef struct {
    int n, k;          /* output channels, inner dimension */
    int kp, nblocks;   /* k rounded up to 4; ceil(n / 16) */
    int8_t *w;         /* packed, 64-byte aligned */
    int32_t *wsum;     /* [n] sum over k of each row */
} I8Weights;

typedef struct {
    int zero;              /* A's zero point, 0..255 */
    const float *scale;    /* [n] */
    const float *bias;     /* [n] or NULL */
    int act;               /* I8_ACT_* */
    const float *add;      /* [M][ldadd] or NULL */
    int ldadd;
} I8Epilogue;

static inline int i8_padded_k(int k) { return (k + 3) & ~3; }

/* Packs w (row-major [n][ldw], the first k columns used), values in -127..127 (-128 is refused so a
 * weight is exactly symmetric). */
int i8_weights_pack(I8Weights *p, const int8_t *w, int n, int k, int ldw);
void i8_weights_free(I8Weights *p);

/* C[M][n] (row stride ldc) = epilogue(A W^T) with the given kernel (one that is available). */
void i8_gemm(I8Kernel kernel, int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C,
             int ldc);

/* Rows x[M][K] (stride ldx) -> q[M][ldq]: q = clamp(floor(x * inv_scale + zero + 0.5), 0, 255) (NaN -> 0),
 * bytes K..i8_padded_k(K)-1 of each row set to 0. */
void i8_quantize_rows(int M, int K, const float *x, int ldx, float inv_scale, int zero, uint8_t *q, int ldq);

/* The fastest kernel this CPU runs, and whether a given one runs here. */
I8Kernel i8_kernel_best(void);
int i8_kernel_available(I8Kernel k);
const char *i8_kernel_name(I8Kernel k);

/* Loops the compiler vectorises, built once per x86 SIMD level and picked when the program loads
 * (target_clones), so a build for any x86-64 still runs them with AVX2 / AVX-512 where the CPU has
 * them. Every clone does the same float operations (no contraction into FMA under -std=c11), so the
 * results do not depend on the CPU. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define I8_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef I8_CLONES
#define I8_CLONES
#endif

/* ---- used by the kernel files ---- */

static inline float i8_act(int act, float y)
{
    if (act == I8_ACT_RELU) return y > 0.0f ? y : 0.0f;
    if (act == I8_ACT_HARDSWISH) return y <= -3.0f ? 0.0f : y >= 3.0f ? y : y * (y + 3.0f) / 6.0f;
    return y;
}

/* The epilogue of one output element. */
static inline float i8_epilogue_one(const I8Epilogue *e, const I8Weights *W, int32_t acc, int m, int n)
{
    float y = (float)(acc - e->zero * W->wsum[n]) * e->scale[n];
    if (e->bias) y = y + e->bias[n];
    y = i8_act(e->act, y);
    if (e->add) y = y + e->add[(long)m * e->ldadd + n];
    return y;
}

void i8_gemm_avx2(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C, int ldc);
void i8_gemm_avx512_vnni(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C,
                         int ldc);
/* AArch64 only (int8_gemm_arm.c): the sdot kernel, and whether the CPU has the dot product. GCC
 * declares the dot-product intrinsics for any target attribute; clang (14 at least) only when the whole
 * file is built for them (-march=armv8.2-a+dotprod, -mcpu=cortex-a78ae), else I8_NEON_DOT is left out. */
#if defined(__aarch64__) && (!defined(__clang__) || defined(__ARM_FEATURE_DOTPROD))
#define I8_HAVE_NEON_DOT 1
#else
#define I8_HAVE_NEON_DOT 0
#endif
void i8_gemm_neon_dot(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C, int ldc);
int i8_neon_dot_available(void);

#endif
