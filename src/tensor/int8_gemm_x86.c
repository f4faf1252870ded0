/* The x86-64 int8 GEMM kernels (see int8_gemm.h): AVX2 and AVX-512 VNNI, each compiled for its
 * instruction set with a target attribute and called only when the CPU has it (i8_kernel_available).
 * Both reproduce the reference bit for bit: exact int32 sums (the order of integer additions does not
 * matter), then the epilogue's float operations one by one as in i8_epilogue_one. */
#include "tensor/int8_gemm.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---------------- AVX-512 VNNI ---------------- */

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

VNNI_TARGET static ALWAYS_INLINE __m512 vnni_act(int act, __m512 y)
{
    if (act == I8_ACT_RELU) return _mm512_max_ps(y, _mm512_setzero_ps()); /* -0 and NaN -> +0, as y > 0 ? y : 0 */
    if (act == I8_ACT_HARDSWISH) {
        const __m512 three = _mm512_set1_ps(3.0f);
        __m512 t = _mm512_div_ps(_mm512_mul_ps(y, _mm512_add_ps(y, three)), _mm512_set1_ps(6.0f));
        t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, three, _CMP_GE_OQ), t, y);
        return _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(y, _mm512_set1_ps(-3.0f), _CMP_LE_OQ), _mm512_setzero_ps());
    }
    return y;
}

/* Rows m0 .. m0+MR-1 x blocks b0 .. b0+NB-1 (16 channels each): MR x NB accumulators in registers. */
VNNI_TARGET static ALWAYS_INLINE void vnni_tile(const int MR, const int NB, const uint8_t *A, int lda,
                                                const I8Weights *W, const I8Epilogue *e, int m0, int b0, float *C,
                                                int ldc)
{
    const int kq = W->kp / 4;
    const int8_t *Wb = W->w + (long)b0 * kq * 64;
    const uint8_t *Am = A + (long)m0 * lda;
    __m512i acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = _mm512_setzero_si512();
    for (int q = 0; q < kq; q++) {
        __m512i w[4];
        for (int j = 0; j < NB; j++) w[j] = _mm512_load_si512((const void *)(Wb + ((long)j * kq + q) * 64));
        for (int i = 0; i < MR; i++) {
            int32_t a4;
            memcpy(&a4, Am + (long)i * lda + 4 * q, 4);
            __m512i av = _mm512_set1_epi32(a4);
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, w[j]);
        }
    }
    for (int j = 0; j < NB; j++) {
        int n = (b0 + j) * 16, valid = W->n - n < 16 ? W->n - n : 16;
        __mmask16 mask = (__mmask16)((1u << valid) - 1u);
        __m512i zs = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(mask, W->wsum + n), _mm512_set1_epi32(e->zero));
        __m512 sc = _mm512_maskz_loadu_ps(mask, e->scale + n);
        __m512 bi = e->bias ? _mm512_maskz_loadu_ps(mask, e->bias + n) : _mm512_setzero_ps();
        for (int i = 0; i < MR; i++) {
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], zs)), sc);
            if (e->bias) y = _mm512_add_ps(y, bi);
            y = vnni_act(e->act, y);
            if (e->add) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, e->add + (long)(m0 + i) * e->ldadd + n));
            _mm512_mask_storeu_ps(C + (long)(m0 + i) * ldc + n, mask, y);
        }
    }
}

#define VNNI_CASE(mr, nb) \
    case (mr) * 8 + (nb): vnni_tile(mr, nb, A, lda, W, e, m0, b0, C, ldc); break;

VNNI_TARGET void i8_gemm_avx512_vnni(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e,
                                     float *C, int ldc)
{
    for (int b0 = 0; b0 < W->nblocks; b0 += 4) {
        int nb = W->nblocks - b0 < 4 ? W->nblocks - b0 : 4;
        for (int m0 = 0; m0 < M; m0 += 4) {
            int mr = M - m0 < 4 ? M - m0 : 4;
            switch (mr * 8 + nb) {
                VNNI_CASE(4, 4) VNNI_CASE(4, 3) VNNI_CASE(4, 2) VNNI_CASE(4, 1)
                VNNI_CASE(3, 4) VNNI_CASE(3, 3) VNNI_CASE(3, 2) VNNI_CASE(3, 1)
                VNNI_CASE(2, 4) VNNI_CASE(2, 3) VNNI_CASE(2, 2) VNNI_CASE(2, 1)
                VNNI_CASE(1, 4) VNNI_CASE(1, 3) VNNI_CASE(1, 2) VNNI_CASE(1, 1)
            default: break;
            }
        }
    }
}

/* ---------------- AVX2 ---------------- */

#define AVX2_TARGET __attribute__((target("avx2")))

AVX2_TARGET static ALWAYS_INLINE __m256 avx2_act(int act, __m256 y)
{
    if (act == I8_ACT_RELU) return _mm256_max_ps(y, _mm256_setzero_ps());
    if (act == I8_ACT_HARDSWISH) {
        const __m256 three = _mm256_set1_ps(3.0f);
        __m256 t = _mm256_div_ps(_mm256_mul_ps(y, _mm256_add_ps(y, three)), _mm256_set1_ps(6.0f));
        t = _mm256_blendv_ps(t, y, _mm256_cmp_ps(y, three, _CMP_GE_OQ));
        return _mm256_blendv_ps(t, _mm256_setzero_ps(), _mm256_cmp_ps(y, _mm256_set1_ps(-3.0f), _CMP_LE_OQ));
    }
    return y;
}

/* acc: 4 registers of 4 channels each, every channel's sum split over two adjacent lanes
 * (vpmaddwd on k pairs) -> out[16] int32 in channel order. */
AVX2_TARGET static ALWAYS_INLINE void avx2_fold(const __m256i acc[4], __m256i out[2])
{
    out[0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[0], acc[1]), 0xD8);
    out[1] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2], acc[3]), 0xD8);
}

/* Rows m0 .. m0+MR-1 (MR <= 2) x one block of 16 channels. */
AVX2_TARGET static ALWAYS_INLINE void avx2_tile(const int MR, const uint8_t *A, int lda, const I8Weights *W,
                                                const I8Epilogue *e, int m0, int b, float *C, int ldc)
{
    const int kq = W->kp / 4;
    const int8_t *Wb = W->w + (long)b * kq * 64;
    const uint8_t *Am = A + (long)m0 * lda;
    __m256i acc[2][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_si256();
    for (int q = 0; q < kq; q++) {
        __m256i w[4];
        for (int j = 0; j < 4; j++) /* 4 channels x 4 k, widened to s16 */
            w[j] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(Wb + (long)q * 64 + 16 * j)));
        for (int i = 0; i < MR; i++) {
            int32_t a4;
            memcpy(&a4, Am + (long)i * lda + 4 * q, 4);
            __m256i av = _mm256_cvtepu8_epi16(_mm_set1_epi32(a4)); /* (k0, k1, k2, k3) x 4 as s16 */
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(av, w[j]));
        }
    }
    int n0 = b * 16;
    for (int i = 0; i < MR; i++) {
        __m256i s[2];
        avx2_fold(acc[i], s);
        int m = m0 + i;
        for (int h = 0; h < 2; h++) {
            int n = n0 + 8 * h;
            if (n >= W->n) break;
            if (W->n - n < 8) { /* the tail: the scalar epilogue, same operations */
                int32_t tmp[8];
                _mm256_storeu_si256((__m256i *)tmp, s[h]);
                for (int c = 0; n + c < W->n; c++) C[(long)m * ldc + n + c] = i8_epilogue_one(e, W, tmp[c], m, n + c);
                continue;
            }
            __m256i zs = _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(W->wsum + n)), _mm256_set1_epi32(e->zero));
            __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s[h], zs)), _mm256_loadu_ps(e->scale + n));
            if (e->bias) y = _mm256_add_ps(y, _mm256_loadu_ps(e->bias + n));
            y = avx2_act(e->act, y);
            if (e->add) y = _mm256_add_ps(y, _mm256_loadu_ps(e->add + (long)m * e->ldadd + n));
            _mm256_storeu_ps(C + (long)m * ldc + n, y);
        }
    }
}

AVX2_TARGET void i8_gemm_avx2(int M, const uint8_t *A, int lda, const I8Weights *W, const I8Epilogue *e, float *C,
                              int ldc)
{
    for (int b = 0; b < W->nblocks; b++) {
        int m0 = 0;
        for (; m0 + 2 <= M; m0 += 2) avx2_tile(2, A, lda, W, e, m0, b, C, ldc);
        if (m0 < M) avx2_tile(1, A, lda, W, e, m0, b, C, ldc);
    }
}

#else
typedef int i8_no_x86_kernels; /* an empty file is not valid C */
#endif
