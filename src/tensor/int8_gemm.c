/* int8 GEMM: packing, the portable reference kernel, activation quantisation, run-time dispatch
 * (see int8_gemm.h; the x86 kernels are in int8_gemm_x86.c, the AArch64 one in int8_gemm_arm.c). */
#include "tensor/int8_gemm.h"

#include "base/error.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int i8_weights_pack(I8Weights *p, const int8_t *w, int n, int k, int ldw)
{
    memset(p, 0, sizeof *p);
    if (n < 1 || k < 1 || k > I8_MAX_K || ldw < k)
        return mvla_fail(MVLA_ERR_ARG, "int8 weights: %d x %d (row stride %d): expected 1..%d columns and at least "
                         "one row", n, k, ldw, I8_MAX_K);
    int kp = i8_padded_k(k), nb = (n + 15) / 16;
    size_t bytes = (size_t)nb * kp * 16;
    p->w = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    p->wsum = malloc((size_t)n * sizeof *p->wsum);
    if (!p->w || !p->wsum) {
        i8_weights_free(p);
        return mvla_fail(MVLA_ERR_NOMEM, "int8 weights: out of memory packing %d x %d", n, k);
    }
    memset(p->w, 0, bytes);
    p->n = n, p->k = k, p->kp = kp, p->nblocks = nb;
    for (int r = 0; r < n; r++) {
        int32_t s = 0;
        for (int c = 0; c < k; c++) {
            int8_t v = w[(long)r * ldw + c];
            if (v == -128) {
                i8_weights_free(p);
                return mvla_fail(MVLA_ERR_ARG, "int8 weights: row %d column %d is -128: expected -127..127 "
                                 "(symmetric quantisation)", r, c);
            }
            p->w[((long)(r / 16) * (kp / 4) + c / 4) * 64 + (r % 16) * 4 + c % 4] = v;
            s += v;
        }
        p->wsum[r] = s;
    }
    return 0;
}

void i8_weights_free(I8Weights *p)
{
    if (!p) return;
    free(p->w);
    free(p->wsum);
    memset(p, 0, sizeof *p);
}

static void gemm_ref(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C, int ldc)
{
    int kq = W->kp / 4;
    for (int m = 0; m < M; m++) {
        const uint8_t *a = A + (long)m * lda;
        for (int n = 0; n < W->n; n++) {
            const int8_t *wb = W->w + (long)(n / 16) * kq * 64 + (n % 16) * 4;
            int32_t acc = 0;
            for (int q = 0; q < kq; q++)
                for (int j = 0; j < 4; j++) acc += (int32_t)a[4 * q + j] * wb[(long)q * 64 + j];
            C[(long)m * ldc + n] = i8_epilogue_one(e, W, acc, m, n);
        }
    }
}

I8_CLONES void i8_quantize_rows(int M, int K, const float *x, int ldx, float inv_scale, int zero, uint8_t *q, int ldq)
{
    int kp = i8_padded_k(K);
    float z = (float)zero + 0.5f;
    if (ldx == K && ldq == K && kp == K && M > 1) { /* one contiguous run: long vector loops for short rows */
        K *= M;
        M = 1;
    }
    for (int m = 0; m < M; m++) {
        const float *xr = x + (long)m * ldx;
        uint8_t *qr = q + (long)m * ldq;
        for (int k = 0; k < K; k++) {
            float v = xr[k] * inv_scale + z;
            v = v > 0.0f ? v : 0.0f; /* NaN -> 0 too */
            v = v < 255.0f ? v : 255.0f;
            qr[k] = (uint8_t)(int)v;
        }
        for (int k = K; k < kp; k++) qr[k] = 0;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define I8_X86 1
#else
#define I8_X86 0
#endif

int i8_kernel_available(I8Kernel k)
{
    switch (k) {
    case I8_REF: return 1;
#if I8_X86
    case I8_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    case I8_AVX512_VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
#if I8_HAVE_NEON_DOT
    case I8_NEON_DOT: return i8_neon_dot_available();
#endif
    default: return 0;
    }
}

I8Kernel i8_kernel_best(void)
{
    static _Atomic int best = -1; /* every thread that races here computes the same value */
    if (best < 0) {
        int b = I8_REF;
        if (i8_kernel_available(I8_AVX2)) b = I8_AVX2;
        if (i8_kernel_available(I8_AVX512_VNNI)) b = I8_AVX512_VNNI;
        if (i8_kernel_available(I8_NEON_DOT)) b = I8_NEON_DOT;
        best = b;
    }
    return (I8Kernel)best;
}

const char *i8_kernel_name(I8Kernel k)
{
    static const char *const names[I8_NKERNELS] = {"ref", "avx2", "avx512-vnni", "neon-dot"};
    return k >= 0 && k < I8_NKERNELS ? names[k] : "?";
}

void i8_gemm(I8Kernel kernel, int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C,
             int ldc)
{
    (void)kernel; /* only the reference where no SIMD kernel is built */
    if (M < 1) return;
#if I8_X86
    if (kernel == I8_AVX512_VNNI) {
        i8_gemm_avx512_vnni(M, A, lda, W, e, C, ldc);
        return;
    }
    if (kernel == I8_AVX2) {
        i8_gemm_avx2(M, A, lda, W, e, C, ldc);
        return;
    }
#endif
#if I8_HAVE_NEON_DOT
    if (kernel == I8_NEON_DOT) {
        i8_gemm_neon_dot(M, A, lda, W, e, C, ldc);
        return;
    }
#endif
    gemm_ref(M, A, lda, W, e, C, ldc);
}
