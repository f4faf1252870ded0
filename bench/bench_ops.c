/* Op throughput at realistic shapes, printed beside the machine's measured GEMM peak.
 *   build/bench/bench_ops [--threads N] [--quick]
 * Peak: a large square cblas_sgemm (2048^3) on the same threads. Every row reports achieved
 * GFLOP/s and its share of that peak. FLOPs count a multiply-add as 2. */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "tensor/gemm.h"
#include "tensor/ops_attention.h"
#include "tensor/ops_conv.h"
#include "tensor/ops_lstm.h"
#include "bench_micro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double time_call(void (*fn)(void *), void *ctx) { return time_call_for(fn, ctx, 0.5); }

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
    printf("| %-38s | %-30s | %8.3f | %8.1f | %5.1f%% |\n", what, shape, ms, gflops, 100 * gflops / peak);
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

/* An op under test: a graph, its inputs and how to call it; backward = 1 also times the backward pass. */
typedef struct {
    Graph *g;
    Tensor *in[4];
    int backward;
    Tensor *(*call)(Graph *g, Tensor **in, const void *args);
    const void *args;
} OpCase;

static void run_op(void *p)
{
    OpCase *c = p;
    graph_reset(c->g);
    Tensor *y = c->call(c->g, c->in, c->args);
    if (!y) {
        fprintf(stderr, "bench: %s\n", mvla_error_message());
        exit(1);
    }
    if (c->backward) {
        float *seed = graph_alloc(c->g, (size_t)y->numel * sizeof *seed);
        for (long i = 0; i < y->numel; i++) seed[i] = 1e-3f;
        graph_backward(c->g, y, seed);
    }
}

/* Times one op on random inputs of the given shapes; returns ms per call. */
static double time_op(Tensor *(*call)(Graph *, Tensor **, const void *), const void *args, int n_in,
                      const int shapes[][5], const int *ndims, int backward)
{
    OpCase c = {.g = graph_new(), .backward = backward, .call = call, .args = args};
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < n_in; i++) {
        c.in[i] = tensor_new(ndims[i], shapes[i]);
        tensor_fill_normal(c.in[i], &r, 0.1f);
        if (backward) tensor_requires_grad(c.in[i]);
    }
    graph_set_grad(c.g, backward);
    double s = time_call(run_op, &c);
    for (int i = 0; i < n_in; i++) tensor_free(c.in[i]);
    graph_free(c.g);
    return s * 1e3;
}

static Tensor *call_conv(Graph *g, Tensor **in, const void *args)
{
    return op_conv2d(g, in[0], in[1], NULL, *(const Conv2dOpts *)args);
}

static void bench_conv(void)
{
    /* x [N, Cin, H, W], Cout, k, stride, groups: layers of a MobileNet-class encoder. */
    static const struct { const char *what; int N, C, H, Cout, k, stride, groups, backward; } cases[] = {
        {"stem 3x3/2 3->16 @224", 1, 3, 224, 16, 3, 2, 1, 0},
        {"depthwise 3x3 96 @56", 1, 96, 56, 96, 3, 1, 96, 0},
        {"pointwise 1x1 96->24 @56", 1, 96, 56, 24, 1, 1, 1, 0},
        {"pointwise 1x1 24->144 @56", 1, 24, 56, 144, 1, 1, 1, 0},
        {"conv 3x3 32->64 @56", 1, 32, 56, 64, 3, 1, 1, 0},
        {"depthwise 3x3 144 @28, 8 frames", 8, 144, 28, 144, 3, 1, 144, 0},
        {"pointwise 144->32 @28, 8 fr, fwd+bwd", 8, 144, 28, 32, 1, 1, 1, 1},
        {"conv 3x3 32->64 @56, fwd+bwd", 1, 32, 56, 64, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const __typeof__(cases[0]) *c = &cases[i];
        Conv2dOpts o = conv2d_opts(c->stride, c->k / 2, c->groups);
        int shapes[2][5] = {{c->N, c->C, c->H, c->H}, {c->Cout, c->C / c->groups, c->k, c->k}};
        double ms = time_op(call_conv, &o, 2, shapes, (int[]){4, 4}, c->backward);
        int Ho = (c->H + 2 * (c->k / 2) - c->k) / c->stride + 1;
        double flops = 2.0 * c->N * c->Cout * Ho * Ho * (c->C / c->groups) * c->k * c->k * (c->backward ? 3 : 1);
        char shape[64];
        snprintf(shape, sizeof shape, "N%d C%d H%d -> %d k%d s%d g%d", c->N, c->C, c->H, c->Cout, c->k, c->stride,
                 c->groups);
        row(c->what, shape, flops / ms * 1e-6, ms);
    }
}

typedef struct { int heads, causal; } AttnArgs;

static Tensor *call_attention(Graph *g, Tensor **in, const void *args)
{
    const AttnArgs *a = args;
    return op_attention(g, in[0], in[1], in[2], a->heads, a->causal, NULL, 0);
}

static void bench_attention(void)
{
    static const struct { const char *what; int B, Tq, Tk, D, heads, causal, backward; } cases[] = {
        {"ViT-B/32 self-attn, 8 frames", 8, 50, 50, 768, 12, 0, 0},
        {"ViT-B/16 self-attn, 1 frame", 1, 197, 197, 768, 12, 0, 0},
        {"CLIP text causal, 2 texts", 2, 77, 77, 512, 8, 1, 0},
        {"resampler 64 latents x 257 tokens", 1, 64, 257, 1024, 16, 0, 0},
        {"ViT-B/32 self-attn, 8 fr, fwd+bwd", 8, 50, 50, 768, 12, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const __typeof__(cases[0]) *c = &cases[i];
        AttnArgs a = {c->heads, c->causal};
        int shapes[3][5] = {{c->B, c->Tq, c->D}, {c->B, c->Tk, c->D}, {c->B, c->Tk, c->D}};
        double ms = time_op(call_attention, &a, 3, shapes, (int[]){3, 3, 3}, c->backward);
        double flops = 4.0 * c->B * c->Tq * c->Tk * c->D * (c->causal ? 0.5 : 1) * (c->backward ? 3 : 1);
        char shape[64];
        snprintf(shape, sizeof shape, "B%d Tq%d Tk%d D%d h%d", c->B, c->Tq, c->Tk, c->D, c->heads);
        row(c->what, shape, flops / ms * 1e-6, ms);
    }
}

static Tensor *call_lstm(Graph *g, Tensor **in, const void *args)
{
    (void)args;
    return op_lstm_layer(g, in[0], in[1], in[2], NULL, NULL, NULL, NULL, NULL, NULL);
}

static void bench_lstm(void)
{
    static const struct { const char *what; int B, T, I, H, backward; } cases[] = {
        {"LSTM layer, window 8", 8, 8, 512, 512, 0},
        {"LSTM layer, window 8, fwd+bwd", 8, 8, 512, 512, 1},
        {"LSTM layer RoboVLMs 1024", 4, 8, 1024, 1024, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const __typeof__(cases[0]) *c = &cases[i];
        int shapes[3][5] = {{c->B, c->T, c->I}, {4 * c->H, c->I}, {4 * c->H, c->H}};
        double ms = time_op(call_lstm, NULL, 3, shapes, (int[]){3, 2, 2}, c->backward);
        double flops = 2.0 * c->B * c->T * 4 * c->H * (c->I + c->H) * (c->backward ? 3 : 1);
        char shape[64];
        snprintf(shape, sizeof shape, "B%d T%d I%d H%d", c->B, c->T, c->I, c->H);
        row(c->what, shape, flops / ms * 1e-6, ms);
    }
}

int main(int argc, char **argv)
{
    int threads;
    if (bench_micro_args(argc, argv, &threads)) return 2;
    /* The peak is the best of three full-length runs, even with --quick, so shares stay honest. */
    int was_quick = quick;
    quick = 0;
    for (int i = 0; i < 3; i++) {
        double gf = gemm_gflops(2048, 2048, 2048);
        if (gf > peak) peak = gf;
    }
    quick = was_quick;
    printf("threads %d, measured peak (sgemm 2048^3): %.1f GFLOP/s\n\n", threads, peak);
    printf("| %-38s | %-30s | %8s | %8s | %6s |\n", "op", "shape", "ms", "GFLOP/s", "peak");
    printf("|%s|%s|%s|%s|%s|\n", "----------------------------------------", "--------------------------------",
           "----------", "----------", "--------");
    bench_gemm_shapes();
    bench_conv();
    bench_attention();
    bench_lstm();
    return 0;
}
