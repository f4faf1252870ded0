/* The AArch64 NEON dot-product int8 GEMM (I8_NEON_DOT) against the portable reference (I8_REF), bit
 * for bit, and the run-time detection. Standalone (not part of `make test`: CI has no ARM): built
 * statically with aarch64-linux-gnu-gcc and run under qemu-aarch64 by scripts/test-arm-int8.sh.
 *
 *   int8_gemm_arm_test 1   the CPU has the dot product (qemu -cpu max): I8_NEON_DOT must be available
 *                          and best, and match I8_REF on every shape and epilogue
 *   int8_gemm_arm_test 0   it has not (qemu -cpu cortex-a57): unavailable, the reference is best
 * Prints one line per failure and a summary; exits 0 when everything matched. */
#include "tensor/int8_gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int failures;

#define EXPECT(cond, ...)                                                                                  \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            failures++;                                                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                    \
            printf(__VA_ARGS__);                                                                           \
            printf("\n");                                                                                  \
        }                                                                                                  \
    } while (0)

/* fill: 0 random, 1 extremes (A = 255, W = +-127: the largest sums), 2 A = 0 */
static long run_shape(int M, int N, int K, int fill, int have_dot)
{
    int kp = i8_padded_k(K), lda = kp + 5;
    uint8_t *A = malloc((size_t)M * lda);
    int8_t *w = malloc((size_t)N * K);
    float *scale = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
    int ldadd = N + 3;
    float *add = malloc(sizeof(float) * M * ldadd);
    float *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
    if (!A || !w || !scale || !bias || !add || !ref || !got) {
        printf("FAIL: out of memory\n");
        exit(2);
    }
    for (long i = 0; i < (long)M * lda; i++) A[i] = fill == 1 ? 255 : fill == 2 ? 0 : (uint8_t)(next() >> 56);
    for (int m = 0; m < M; m++) /* padding past K holds anything: the packed weights there are 0 */
        for (int k = K; k < lda; k++) A[(long)m * lda + k] = (uint8_t)(next() >> 56);
    for (long i = 0; i < (long)N * K; i++)
        w[i] = fill == 1 ? (int8_t)(i % 3 ? 127 : -127) : (int8_t)((int)(next() % 255) - 127);
    /* scales so that y spans the hardswish knees (-3, 3); a few special channels */
    double target = 6.0 / (sqrt((double)K) * 255.0 * 73.0);
    for (int n = 0; n < N; n++) {
        scale[n] = (float)(target * (0.5 + (double)(next() % 1000) / 500.0));
        bias[n] = (float)((int)(next() % 2001) - 1000) * 0.003f;
    }
    if (N > 2) scale[1] = -0.0f;    /* y = -0: relu's y > 0 ? y : 0 gives +0 */
    if (N > 5) scale[5] = NAN;      /* NaN through every activation */
    if (N > 9) scale[9] = INFINITY; /* inf, and inf * 0 = NaN */
    if (N > 12) bias[12] = -3.0f, scale[12] = 0.0f; /* exactly the knee */
    if (N > 13) bias[13] = 3.0f, scale[13] = 0.0f;
    for (long i = 0; i < (long)M * ldadd; i++) add[i] = (float)((int)(next() % 401) - 200) * 0.01f;

    I8Weights W;
    if (i8_weights_pack(&W, w, N, K, K) != 0) {
        printf("FAIL: pack %dx%d\n", N, K);
        exit(2);
    }
    long compared = 0;
    static const int zeros[] = {0, 3, 128, 200, 255};
    for (int z = 0; z < 5; z++)
        for (int variant = 0; variant < 12; variant++) {
            I8Epilogue e = {.zero = zeros[z], .scale = scale, .bias = variant & 1 ? bias : NULL,
                            .act = (variant >> 1) % 3, .add = variant >= 6 ? add : NULL, .ldadd = ldadd};
            memset(ref, 0xA5, sizeof(float) * M * N);
            i8_gemm(I8_REF, M, A, lda, &W, &e, ref, N);
            /* the reference against exact sums on the unpacked weights, through the same epilogue */
            if (variant == 0 || variant == 11)
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        int64_t acc = 0;
                        for (int k = 0; k < K; k++) acc += (int64_t)A[(long)m * lda + k] * w[(long)n * K + k];
                        float y = i8_epilogue_one(&e, &W, (int32_t)acc, m, n);
                        EXPECT(memcmp(&y, &ref[(long)m * N + n], sizeof y) == 0,
                               "ref %dx%dx%d zero %d variant %d at (%d,%d): %a vs exact %a", M, N, K, e.zero,
                               variant, m, n, (double)ref[(long)m * N + n], (double)y);
                    }
            if (!have_dot) continue;
            memset(got, 0x5A, sizeof(float) * M * N);
            i8_gemm(I8_NEON_DOT, M, A, lda, &W, &e, got, N);
            for (long i = 0; i < (long)M * N; i++) {
                uint32_t a, b;
                memcpy(&a, &ref[i], 4);
                memcpy(&b, &got[i], 4);
                EXPECT(a == b, "neon-dot %dx%dx%d fill %d zero %d variant %d at (%ld,%ld): %a (0x%08x) vs ref %a "
                       "(0x%08x)", M, N, K, fill, e.zero, variant, i / N, i % N, (double)got[i], b,
                       (double)ref[i], a);
                compared++;
            }
        }
    i8_weights_free(&W);
    free(A), free(w), free(scale), free(bias), free(add), free(ref), free(got);
    return compared;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "0") && strcmp(argv[1], "1"))) {
        fprintf(stderr, "usage: %s 1|0   (whether the CPU is expected to have the dot product)\n", argv[0]);
        return 2;
    }
    int expect_dot = argv[1][0] == '1';
    int have = i8_kernel_available(I8_NEON_DOT);
    EXPECT(have == expect_dot, "i8_kernel_available(I8_NEON_DOT) = %d, expected %d", have, expect_dot);
    EXPECT(i8_kernel_best() == (expect_dot ? I8_NEON_DOT : I8_REF), "best kernel %s, expected %s",
           i8_kernel_name(i8_kernel_best()), expect_dot ? "neon-dot" : "ref");
    EXPECT(!i8_kernel_available(I8_AVX2) && !i8_kernel_available(I8_AVX512_VNNI), "an x86 kernel claims to run");
    EXPECT(strcmp(i8_kernel_name(I8_NEON_DOT), "neon-dot") == 0, "name %s", i8_kernel_name(I8_NEON_DOT));
    printf("detection: neon-dot %s, best kernel %s\n", have ? "available" : "unavailable",
           i8_kernel_name(i8_kernel_best()));

    /* M, N, K off the tile sizes (4 rows, 16 / 4 channels, 16 / 4 k), and the edges */
    static const int shapes[][3] = {{1, 1, 1},    {3, 5, 7},     {5, 17, 13},  {7, 33, 30},   {4, 64, 64},
                                    {9, 49, 101}, {1, 512, 128}, {13, 70, 3},  {2, 129, 333}, {6, 16, 4},
                                    {11, 23, 17}, {4, 15, 20},   {5, 19, 1001}, {8, 32, 16},  {3, 3, 2}};
    long compared = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        compared += run_shape(shapes[s][0], shapes[s][1], shapes[s][2], 0, have && expect_dot);
    compared += run_shape(5, 37, 4099, 1, have && expect_dot); /* the largest sums (|acc| ~ 1.3e8) */
    compared += run_shape(6, 21, 77, 2, have && expect_dot);
    printf("%ld outputs compared bit for bit (neon-dot vs ref), %d failures\n", compared, failures);
    if (expect_dot && compared == 0) {
        printf("FAIL: nothing compared\n");
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
