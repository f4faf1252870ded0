/* Depthwise convolution forward and backward (dx and dw) at the default student's shapes: 64 frames of 128x128,
 * the encoder's depthwise layers. Each row times the op's forward (no grad) and backward (graph_backward after a
 * forward, less the forward's time: dx, dw and the small seeding of dy), each beside its peer, plain loops with a
 * bounds check per tap (what a straightforward C implementation does), and checks both give the same outputs
 * and gradients.
 *   build/bench/bench_depthwise [--threads N] [--quick] */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "tensor/ops_conv.h"
#include "bench_micro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int N, C, H, k, s, Ho;
    Tensor *x, *w;
    float *dy, *gx, *gw; /* the seed; the peer's gradients */
    float *y;            /* the peer's output */
    Graph *g;
} Case;

static void op_backward(void *p)
{
    Case *c = p;
    graph_reset(c->g);
    Tensor *y = op_conv2d(c->g, c->x, c->w, NULL, conv2d_opts(c->s, c->k / 2, c->C));
    if (!y || graph_backward(c->g, y, c->dy)) {
        fprintf(stderr, "bench_depthwise: %s\n", mvla_error_message());
        exit(1);
    }
}

static Tensor *forward(Case *c)
{
    graph_reset(c->g);
    int prev = graph_set_grad(c->g, 0);
    Tensor *y = op_conv2d(c->g, c->x, c->w, NULL, conv2d_opts(c->s, c->k / 2, c->C));
    if (!y) {
        fprintf(stderr, "bench_depthwise: %s\n", mvla_error_message());
        exit(1);
    }
    graph_set_grad(c->g, prev);
    return y;
}

static void op_forward(void *p) { forward(p); }

/* The peer's forward: plain loops over output pixels and taps. */
static void peer_forward(void *p)
{
    Case *c = p;
    int H = c->H, Ho = c->Ho, k = c->k, s = c->s, pad = k / 2;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)c->N * c->C; pl++) {
        const float *xp = c->x->data + pl * H * H, *wk = c->w->data + pl % c->C * k * k;
        float *yp = c->y + pl * Ho * Ho;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Ho; ow++) {
                float acc = 0;
                for (int ki = 0; ki < k; ki++) {
                    int ih = oh * s - pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    for (int kj = 0; kj < k; kj++) {
                        int iw = ow * s - pad + kj;
                        if (iw >= 0 && iw < H) acc += wk[ki * k + kj] * xp[ih * H + iw];
                    }
                }
                yp[oh * Ho + ow] = acc;
            }
    }
}

/* The peer: dx and dw by plain loops over output pixels and taps. */
static void peer_backward(void *p)
{
    Case *c = p;
    int H = c->H, Ho = c->Ho, k = c->k, s = c->s, pad = k / 2;
    memset(c->gx, 0, (size_t)c->x->numel * sizeof *c->gx);
    memset(c->gw, 0, (size_t)c->w->numel * sizeof *c->gw);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c->C; ch++)
        for (int n = 0; n < c->N; n++) {
            long pl = (long)n * c->C + ch;
            const float *xp = c->x->data + pl * H * H, *dyp = c->dy + pl * Ho * Ho, *wk = c->w->data + ch * k * k;
            float *dxp = c->gx + pl * H * H, *dwk = c->gw + ch * k * k;
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Ho; ow++) {
                    float d = dyp[oh * Ho + ow];
                    for (int ki = 0; ki < k; ki++) {
                        int ih = oh * s - pad + ki;
                        if (ih < 0 || ih >= H) continue;
                        for (int kj = 0; kj < k; kj++) {
                            int iw = ow * s - pad + kj;
                            if (iw < 0 || iw >= H) continue;
                            dxp[ih * H + iw] += wk[ki * k + kj] * d;
                            dwk[ki * k + kj] += xp[ih * H + iw] * d;
                        }
                    }
                }
        }
}

static double time_call(void (*fn)(void *), void *ctx) { return time_call_for(fn, ctx, 0.4); }

/* Largest difference relative to the tensor's largest magnitude. */
static double rel_diff(const float *a, const float *b, long n)
{
    double d = 0, m = 0;
    for (long i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / (m > 0 ? m : 1);
}

int main(int argc, char **argv)
{
    int threads;
    if (bench_micro_args(argc, argv, &threads)) return 2;
    /* configs/student.json's depthwise layers (128x128 input, channels after width 0.75) on 64 frames. */
    static const struct { const char *what; int C, H, k, s; } layers[] = {
        {"block 0 dw 3x3/2", 16, 64, 3, 2}, {"block 1 dw 3x3/2", 56, 32, 3, 2}, {"block 2 dw 3x3/1", 64, 16, 3, 1},
        {"block 3 dw 5x5/2", 72, 16, 5, 2}, {"block 4 dw 5x5/1", 184, 8, 5, 1}, {"block 5 dw 5x5/1", 88, 8, 5, 1},
        {"block 6 dw 5x5/2", 216, 8, 5, 2},
    };
    printf("threads %d; backward = dx + dw of one layer, 64 frames; peer: plain loops\n\n", threads);
    printf("| %-18s | %-18s | %8s | %8s | %7s | %8s | %9s | %7s | %8s |\n", "layer", "shape", "fwd ms", "peer ms",
           "speedup", "bwd ms", "peer ms", "speedup", "max diff");
    printf("|--------------------|--------------------|----------|----------|---------|----------|-----------|------"
           "---|----------|\n");
    double total = 0, total_peer = 0, total_fwd = 0, total_fwd_peer = 0;
    int bad = 0;
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        Case c = {.N = 64, .C = layers[i].C, .H = layers[i].H, .k = layers[i].k, .s = layers[i].s};
        c.Ho = (c.H + 2 * (c.k / 2) - c.k) / c.s + 1;
        Rng r;
        rng_seed(&r, 5);
        c.x = tensor_new_shape(4, c.N, c.C, c.H, c.H), c.w = tensor_new_shape(4, c.C, 1, c.k, c.k);
        long ny = (long)c.N * c.C * c.Ho * c.Ho;
        c.dy = malloc((size_t)ny * sizeof *c.dy);
        c.gx = malloc((size_t)c.x->numel * sizeof *c.gx), c.gw = malloc((size_t)c.w->numel * sizeof *c.gw);
        c.y = malloc((size_t)ny * sizeof *c.y);
        c.g = graph_new();
        if (!c.x || !c.w || !c.dy || !c.gx || !c.gw || !c.y || !c.g) {
            fprintf(stderr, "bench_depthwise: out of memory\n");
            return 1;
        }
        tensor_fill_normal(c.x, &r, 1), tensor_fill_normal(c.w, &r, 0.3f);
        rng_fill_normal(&r, c.dy, ny, 1);
        tensor_requires_grad(c.x), tensor_requires_grad(c.w);
        /* Same gradients: one backward from zero grads against the peer. */
        tensor_zero_grad(c.x), tensor_zero_grad(c.w);
        op_backward(&c);
        peer_backward(&c);
        double diff = fmax(rel_diff(c.x->grad, c.gx, c.x->numel), rel_diff(c.w->grad, c.gw, c.w->numel));
        peer_forward(&c);
        diff = fmax(diff, rel_diff(forward(&c)->data, c.y, ny));
        bad |= !(diff < 1e-4);
        double fwd = time_call(op_forward, &c), fwd_peer = time_call(peer_forward, &c);
        double both = time_call(op_backward, &c), peer = time_call(peer_backward, &c);
        double bwd = both - fwd > 0 ? both - fwd : 0;
        char shape[64];
        snprintf(shape, sizeof shape, "C%d %dx%d -> %dx%d", c.C, c.H, c.H, c.Ho, c.Ho);
        printf("| %-18s | %-18s | %8.3f | %8.3f | %6.1fx | %8.3f | %9.3f | %6.1fx | %8.1e |\n", layers[i].what, shape,
               fwd * 1e3, fwd_peer * 1e3, fwd_peer / fwd, bwd * 1e3, peer * 1e3, bwd > 0 ? peer / bwd : 0.0, diff);
        total += bwd, total_peer += peer, total_fwd += fwd, total_fwd_peer += fwd_peer;
        graph_free(c.g);
        tensor_free(c.x), tensor_free(c.w);
        free(c.dy), free(c.gx), free(c.gw), free(c.y);
    }
    printf("| %-18s | %-18s | %8.3f | %8.3f | %6.1fx | %8.3f | %9.3f | %6.1fx | %8s |\n", "all layers", "",
           total_fwd * 1e3, total_fwd_peer * 1e3, total_fwd_peer / total_fwd, total * 1e3, total_peer * 1e3,
           total > 0 ? total_peer / total : 0.0, "");
    if (bad) {
        fprintf(stderr, "bench_depthwise: the op's output or gradients differ from the peer's\n");
        return 1;
    }
    return 0;
}
