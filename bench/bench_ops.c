/* Op throughput at realistic shapes, printed beside the machine's measured GEMM peak.
 *   build/bench/bench_ops [--threads N] [--quick]
 * Peak: a large square cblas_sgemm (2048^3) on the same threads. Every row reports achieved
 * GFLOP/s and its share of that peak. FLOPs count a multiply-add as 2. */
#include "base/progress.h"
#include "base/threads.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quick;

/* Runs fn until ~0.5 s (0.1 s with --quick) have passed, after one warm-up; returns seconds per call. */
static double time_call(void (*fn)(void *), void *ctx)
{
    fn(ctx);
    double budget = quick ? 0.1 : 0.5, start = time_now(), now;
    long calls = 0;
    do {
        fn(ctx);
        calls++;
        now = time_now();
    } while (now - start < budget);
    return (now - start) / calls;
}

typedef struct {
    int M, N, K;
    float *A, *B, *C;
} GemmCase;

static void run_gemm(void *p)
{
    GemmCase *c = p;
    gemm(0, 1, c->M, c->N, c->K, 1, c->A, c->K, c->B, c->K, 0, c->C, c->N);
}

static float *random_floats(long n)
{
    float *x = malloc((size_t)n * sizeof *x);
    Rng r;
    rng_seed(&r, 7);
    rng_fill_normal(&r, x, n, 1);
    return x;
}

static double gemm_gflops(int M, int N, int K)
{
    GemmCase c = {M, N, K, random_floats((long)M * K), random_floats((long)N * K), random_floats((long)M * N)};
    double s = time_call(run_gemm, &c);
    free(c.A), free(c.B), free(c.C);
    return 2.0 * M * N * K / s * 1e-9;
}

static double peak;

static void row(const char *what, const char *shape, double gflops, double ms)
{
    printf("| %-34s | %-30s | %8.3f | %8.1f | %5.1f%% |\n", what, shape, ms, gflops, 100 * gflops / peak);
}

static void bench_gemm_shapes(void)
{
    /* (M = tokens x frames, N = out features, K = in features), as y = x W^T in op_linear. */
    static const struct { const char *what; int M, N, K; } cases[] = {
        {"ViT-B/32 qkv proj (8 frames)", 8 * 50, 3 * 768, 768},
        {"ViT-B/32 mlp fc1 (8 frames)", 8 * 50, 3072, 768},
        {"ViT-B/32 mlp fc2 (8 frames)", 8 * 50, 768, 3072},
        {"ViT-B/32 qkv proj (1 frame)", 50, 3 * 768, 768},
        {"MobileNet 1x1 24->144 @56x56", 56 * 56, 144, 24},
        {"MobileNet 1x1 144->24 @56x56", 56 * 56, 24, 144},
        {"MobileNet 1x1 96->576 @14x14", 14 * 14, 576, 96},
        {"LSTM gates B=8 H=512", 8, 4 * 512, 512},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char shape[64];
        snprintf(shape, sizeof shape, "M%d N%d K%d", cases[i].M, cases[i].N, cases[i].K);
        double gf = gemm_gflops(cases[i].M, cases[i].N, cases[i].K);
        row(cases[i].what, shape, gf, 2.0 * cases[i].M * cases[i].N * cases[i].K / gf * 1e-6);
    }
}

int main(int argc, char **argv)
{
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    threads = mvla_set_threads(threads);
    peak = gemm_gflops(2048, 2048, 2048);
    printf("threads %d, measured peak (sgemm 2048^3): %.1f GFLOP/s\n\n", threads, peak);
    printf("| %-34s | %-30s | %8s | %8s | %6s |\n", "op", "shape", "ms", "GFLOP/s", "peak");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------", "--------------------------------",
           "----------", "----------", "--------");
    bench_gemm_shapes();
    return 0;
}
