/* Frame preprocessing (resize + BGR -> RGB) per call, camera sizes to the model inputs, old vs new in
 * the same run:
 *   stb box     the previous "area" path: stb_image_resize's box filter (allocates per call), then a
 *               separate channel swap
 *   area plan   preprocess_run with a PreprocessPlan kept across calls (the runtime's path: exact area
 *               averaging, swap fused, no allocation)
 *   area frame  preprocess_frame: the same, with a fresh plan (tables built and freed) per call
 *   bicubic     preprocess_run with FILTER_BICUBIC (stb_image_resize, unchanged)
 *   build/bench/bench_preprocess [--iters N] [--rounds R]
 * Prints ms per call (best of R rounds of N calls, one thread) and the largest difference in grey
 * levels between the stb box and the exact area output. */
#include "base/progress.h"
#include "base/rng.h"
#include "data/preprocess.h"

#include <stb_image_resize.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A camera-like BGR frame: sky and floor gradients, a box, +-4 noise. */
static void synth(uint8_t *f, int w, int h)
{
    Rng r;
    rng_seed(&r, 7);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int up = y < h / 2, in_box = x > w / 3 && x < w / 2 && y > h / 3 && y < 3 * h / 4;
            int v[3] = {up ? 180 - 60 * y / h : 70 + 90 * y / h, up ? 170 - 50 * y / h : 90 + 80 * y / h,
                        in_box ? 150 : up ? 160 : 110 + 60 * y / h};
            uint64_t n = rng_next(&r);
            for (int c = 0; c < 3; c++) {
                int q = v[c] + (int)((n >> (8 * c)) & 7) - 4;
                f[((size_t)y * w + x) * 3 + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
}

/* The code this replaced (src/data/preprocess.c before): stb box, then swap B and R. */
static int stb_box(const Preprocess *p, const uint8_t *bgr, int sw, int sh, uint8_t *rgb)
{
    if (!stbir_resize(bgr, sw, sh, sw * 3, rgb, p->width, p->height, p->width * 3, STBIR_TYPE_UINT8, 3,
                      STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, STBIR_FILTER_BOX,
                      STBIR_FILTER_BOX, STBIR_COLORSPACE_LINEAR, NULL))
        return -1;
    for (long i = 0; i < (long)p->width * p->height; i++) {
        uint8_t t = rgb[3 * i];
        rgb[3 * i] = rgb[3 * i + 2];
        rgb[3 * i + 2] = t;
    }
    return 0;
}

enum { STB_BOX, AREA_PLAN, AREA_FRAME, BICUBIC, N_KINDS };
static const char *kind_names[] = {"stb box (before)", "area plan (after)", "area frame", "bicubic plan"};

static double time_kind(int kind, PreprocessPlan *plan, const Preprocess *p, const uint8_t *src, int sw, int sh,
                        uint8_t *out, int iters, int rounds)
{
    Preprocess b = *p;
    b.filter = FILTER_BICUBIC;
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = time_now();
        for (int i = 0; i < iters; i++) {
            int rc = kind == STB_BOX      ? stb_box(p, src, sw, sh, out)
                     : kind == AREA_PLAN  ? preprocess_run(plan, p, src, sw, sh, PREPROCESS_BGR, out)
                     : kind == AREA_FRAME ? preprocess_frame(p, src, sw, sh, out)
                                          : preprocess_run(plan, &b, src, sw, sh, PREPROCESS_BGR, out);
            if (rc) {
                fprintf(stderr, "bench_preprocess: %s failed\n", kind_names[kind]);
                exit(1);
            }
        }
        double dt = (time_now() - t0) / iters;
        if (dt < best) best = dt;
    }
    return best * 1e3;
}

int main(int argc, char **argv)
{
    int iters = 50, rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_preprocess [--iters N] [--rounds R]\n");
            return 2;
        }
    }
    if (iters < 1 || rounds < 1) return 2;
    const int cases[][4] = {{640, 480, 64, 64}, {1280, 720, 64, 64}, {1280, 720, 128, 72}, {160, 90, 64, 64}};
    printf("Preprocessing one frame (BGR -> RGB, stretch), ms per call, best of %d x %d, 1 thread\n\n", rounds, iters);
    printf("| source | output | %s | %s | %s | %s | speed-up | max |box - area| |\n", kind_names[0], kind_names[1],
           kind_names[2], kind_names[3]);
    printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int sw = cases[k][0], sh = cases[k][1];
        Preprocess p = {cases[k][2], cases[k][3], CROP_STRETCH, FILTER_AREA};
        uint8_t *src = malloc((size_t)sw * sh * 3), *a = malloc((size_t)p.width * p.height * 3),
                *b = malloc((size_t)p.width * p.height * 3);
        if (!src || !a || !b) return 1;
        synth(src, sw, sh);
        PreprocessPlan plan = {0};
        double ms[N_KINDS];
        for (int kind = 0; kind < N_KINDS; kind++) ms[kind] = time_kind(kind, &plan, &p, src, sw, sh, a, iters, rounds);
        int worst = 0;
        if (stb_box(&p, src, sw, sh, a) || preprocess_run(&plan, &p, src, sw, sh, PREPROCESS_BGR, b)) return 1;
        for (long i = 0; i < (long)p.width * p.height * 3; i++) {
            int d = abs((int)a[i] - (int)b[i]);
            if (d > worst) worst = d;
        }
        printf("| %dx%d | %dx%d | %.4f | %.4f | %.4f | %.4f | %.1fx | %d |\n", sw, sh, p.width, p.height, ms[0], ms[1],
               ms[2], ms[3], ms[0] / ms[1], worst);
        preprocess_plan_free(&plan);
        free(src), free(a), free(b);
    }
    return 0;
}
