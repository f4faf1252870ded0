/* INT8 inference speed (mvla quantize's files):
 *   1. the int8 GEMM kernels (ref, AVX2, AVX-512 VNNI: those this CPU runs) against OpenBLAS's fp32
 *      sgemm on the default student's GEMM shapes (1x1 convs, neck, LSTM), activation quantisation
 *      included as the engine runs it;
 *   2. step mode (one frame in, one action out) of fp32 and int8 model files at 1 and 2 threads, with
 *      the encoder / head split, and the file sizes.
 *   build/bench/bench_int8 [--quick] [MODEL.safetensors ...]
 * Without model files: the built-in default student and configs/student*.json with random weights,
 * exported and quantised here on synthetic frames (speed does not depend on the weights). Files given
 * are timed as they are (fp32 or int8), each beside its int8 version when it is fp32.
 * On a shared machine read the best round; the median shows the contention. */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "models/policy_int8.h"
#include "runtime/model_file.h"
#include "runtime/quantize.h"
#include "tensor/gemm.h"
#include "bench_rounds.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int quick;

/* ---- kernels ---- */

/* best seconds per call of fn over a few rounds */
#define TIME_BEST(best, reps, body)                                                                                \
    do {                                                                                                           \
        best = 1e30;                                                                                               \
        for (int round_ = 0; round_ < 5; round_++) {                                                               \
            double t0_ = time_now();                                                                               \
            for (int r_ = 0; r_ < (reps); r_++) body;                                                              \
            double dt_ = (time_now() - t0_) / (reps);                                                              \
            if (dt_ < best) best = dt_;                                                                            \
        }                                                                                                          \
    } while (0)

static void bench_kernels(const StudentPolicy *p)
{
    StudentQSite sites[STUDENT_INT8_MAX_SITES];
    int n = student_int8_sites(p, sites, STUDENT_INT8_MAX_SITES);
    mvla_set_threads(1); /* OpenBLAS too: waking a second thread costs more than these products */
    printf("## int8 GEMM kernels on %s's layers (one frame, one thread; microseconds per call, best of 5 rounds)\n\n",
           p->cfg.name);
    printf("M: pixels (1x1 convs), 1 (neck, LSTM recurrence) or the window (LSTM input). int8 columns include\n"
           "quantising the fp32 input and the fused epilogue (dequantise, bias, activation); fp32 is OpenBLAS sgemm "
           "alone.\n\n| layer | M x N x K | fp32 sgemm |");
    for (int k = 0; k < I8_NKERNELS; k++)
        if (i8_kernel_available((I8Kernel)k)) printf(" int8 %s |", i8_kernel_name((I8Kernel)k));
    printf("\n|---|---|---|");
    for (int k = 0; k < I8_NKERNELS; k++)
        if (i8_kernel_available((I8Kernel)k)) printf("---|");
    printf("\n");
    /* M per site: the pixels its input has (from the encoder's geometry), 1 for linears */
    const MobileNet *m = &p->enc;
    int Ms[STUDENT_INT8_MAX_SITES], s = 0, h = m->stem_h, w = m->stem_w;
    for (int i = 0; i < m->n_blocks; i++) {
        if (m->blocks[i].has_expand) Ms[s++] = h * w;
        h = m->block_h[i], w = m->block_w[i];
        Ms[s++] = h * w;
    }
    if (m->has_final) Ms[s++] = h * w;
    while (s < n) Ms[s++] = 1;
    if (p->cfg.head.kind == HEAD_LSTM)
        for (int l = 0; l < p->lstm.layers; l++) Ms[n - 2 * p->lstm.layers + 2 * l] = p->cfg.head.window;
    double total[I8_NKERNELS + 1] = {0};
    Rng rng;
    rng_seed(&rng, 9);
    for (int i = 0; i < n; i++) {
        int M = Ms[i], N = sites[i].rows, K = sites[i].cols, kp = i8_padded_k(K);
        float *x = malloc(sizeof(float) * (size_t)M * K), *wf = malloc(sizeof(float) * (size_t)N * K);
        float *C = malloc(sizeof(float) * (size_t)M * N), *sc = malloc(sizeof(float) * (size_t)N);
        int8_t *wq = malloc((size_t)N * K);
        uint8_t *A = malloc((size_t)M * kp);
        if (!x || !wf || !C || !sc || !wq || !A) return;
        rng_fill_normal(&rng, x, (long)M * K, 1.0f);
        rng_fill_normal(&rng, wf, (long)N * K, 0.1f);
        for (long j = 0; j < (long)N * K; j++) wq[j] = (int8_t)lrintf(fmaxf(-127, fminf(127, wf[j] * 300)));
        for (int j = 0; j < N; j++) sc[j] = 1e-3f;
        I8Weights W;
        if (i8_weights_pack(&W, wq, N, K, K)) return;
        I8Epilogue e = {128, sc, sc, I8_ACT_RELU, NULL, 0};
        int reps = quick ? 50 : 400;
        double t[I8_NKERNELS + 1];
        TIME_BEST(t[0], reps, gemm(0, 1, M, N, K, 1.0f, x, K, wf, K, 0.0f, C, N));
        printf("| %s | %d x %d x %d | %.2f |", sites[i].name, M, N, K, 1e6 * t[0]);
        total[0] += t[0];
        for (int k = 0; k < I8_NKERNELS; k++) {
            if (!i8_kernel_available((I8Kernel)k)) continue;
            TIME_BEST(t[k + 1], reps, (i8_quantize_rows(M, K, x, K, 20.0f, 128, A, kp),
                                       i8_gemm((I8Kernel)k, M, A, kp, &W, &e, C, N)));
            printf(" %.2f |", 1e6 * t[k + 1]);
            total[k + 1] += t[k + 1];
        }
        printf("\n");
        i8_weights_free(&W);
        free(x), free(wf), free(C), free(sc), free(wq), free(A);
    }
    printf("| **total** | | **%.1f** |", 1e6 * total[0]);
    for (int k = 0; k < I8_NKERNELS; k++)
        if (i8_kernel_available((I8Kernel)k)) printf(" **%.1f** |", 1e6 * total[k + 1]);
    printf("\n\n");
}

/* ---- step mode ---- */

/* A smooth, textured RGB frame. */
static void synth_frame(uint8_t *px, int W, int H, int t)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(0.11 * x + 0.07 * y * (c + 1) + 0.3 * t) + 30 * cos(0.4 * (x - y) + t);
                px[((long)y * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

typedef struct {
    const uint8_t *frames; /* 8 RGB frames */
    size_t frame_bytes;
} RgbFrames;

/* One step on frame i % 8 of ctx (an RgbFrames). */
static int step_rgb(StudentRunner *r, long i, void *ctx)
{
    const RgbFrames *f = ctx;
    float action[3];
    return student_runner_step_rgb(r, f->frames + (size_t)(i % 8) * f->frame_bytes, action, NULL);
}

/* Step mode for ~1 s (0.25 s quick, bench_rounds.h): one table row. */
static int bench_steps(const char *path, const char *label, int threads, I8Kernel kernel)
{
    ModelFile mf;
    if (model_open(&mf, path)) return 1;
    StudentPolicy *p = &mf.policy;
    if (p->int8 && student_int8_set_kernel(p, kernel)) return 1;
    mvla_set_threads(threads);
    int W = p->cfg.encoder.input_width, H = p->cfg.encoder.input_height;
    uint8_t *frames = malloc((size_t)8 * W * H * 3);
    StudentRunner *r = student_runner_new(p);
    if (!frames || !r || student_runner_set_instruction(r, "Navigate to the gray basket on the left")) return 1;
    for (int i = 0; i < 8; i++) synth_frame(frames + (size_t)i * W * H * 3, W, H, i);
    RgbFrames f = {frames, (size_t)W * H * 3};
    BenchRounds t;
    if (bench_runner_rounds(r, step_rgb, &f, quick ? 0.25 : 1.0, &t)) return 1;
    printf("| %-16s | %-18s | %7d | %9.0f | %9.0f | %8.3f | %8.3f | %8.3f |\n", p->cfg.name, label, threads,
           1 / t.best, 1 / t.median, 1e3 * t.best, 1e3 * t.encoder, 1e3 * t.head);
    student_runner_free(r);
    free(frames);
    model_file_free(&mf);
    return 0;
}

static long file_size(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

/* fp32 file -> int8 file calibrated on 64 synthetic frames in 4 episodes. */
static int quantize_synthetic(const char *fp32, const char *int8)
{
    ModelFile mf;
    if (model_open(&mf, fp32)) return 1;
    int W = mf.policy.cfg.encoder.input_width, H = mf.policy.cfg.encoder.input_height;
    model_file_free(&mf);
    uint8_t *frames = malloc((size_t)64 * W * H * 3);
    if (!frames) return 1;
    for (int i = 0; i < 64; i++) synth_frame(frames + (size_t)i * W * H * 3, W, H, 100 + i);
    CalibSegment segs[4];
    for (int s = 0; s < 4; s++) segs[s] = (CalibSegment){NULL, frames + (size_t)s * 16 * W * H * 3, NULL, 16, W, H};
    int rc = model_quantize(fp32, int8, segs, 4, NULL, NULL);
    free(frames);
    return rc;
}

/* Random-weight checkpoint of a config -> fp32 model file in dir. */
static int make_model(const StudentConfig *c, const char *dir, int i, char *path, size_t n)
{
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt%d.safetensors", dir, i);
    snprintf(path, n, "%s/model%d.safetensors", dir, i);
    StudentPolicy p;
    int rc = student_init(&p, c, 1);
    if (!rc) rc = student_save(&p, ckpt, NULL, 0);
    if (!rc) student_free(&p);
    return rc ? rc : model_export(ckpt, path);
}

int main(int argc, char **argv)
{
    const char *files[32];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (n_files < 32) files[n_files++] = argv[i];
    }
    char dir[] = "/tmp/mvla-bench-int8-XXXXXX", paths[40][4400];
    int n = 0;
    if (!mkdtemp(dir)) return 1;
    StudentConfig def;
    student_config_default(&def);
    if (n_files == 0) {
        glob_t g;
        const char *cfgs[40] = {NULL};
        int n_cfgs = 1;
        if (glob("configs/student*.json", 0, NULL, &g) == 0)
            for (size_t j = 0; j < g.gl_pathc && n_cfgs < 40; j++) cfgs[n_cfgs++] = g.gl_pathv[j];
        for (int i = 0; i < n_cfgs; i++) {
            StudentConfig c = def;
            if (cfgs[i] && student_config_load(&c, cfgs[i])) {
                fprintf(stderr, "bench_int8: %s (skipped)\n", mvla_error_message());
                continue;
            }
            if (!cfgs[i]) snprintf(c.name, sizeof c.name, "default");
            if (make_model(&c, dir, i, paths[n], sizeof paths[n])) {
                fprintf(stderr, "bench_int8: %s\n", mvla_error_message());
                return 1;
            }
            n++;
        }
        if (n_cfgs > 1) globfree(&g);
    } else {
        for (int i = 0; i < n_files; i++) snprintf(paths[n++], sizeof paths[0], "%s", files[i]);
    }
    StudentPolicy dp;
    if (student_init(&dp, &def, 1)) return 1;
    snprintf(dp.cfg.name, sizeof dp.cfg.name, "the default student");
    bench_kernels(&dp);
    student_free(&dp);

    printf("## Step mode, fp32 vs int8 model files (best and median of rounds of 25 steps; ms from the best)\n\n");
    printf("| %-16s | %-18s | threads | best st/s | median/s  | ms/step  | encoder  | head     |\n", "model", "file");
    printf("|------------------|--------------------|---------|-----------|-----------|----------|----------|----------|\n");
    long size_fp32[40], size_int8[40];
    char names[40][STUDENT_NAME_MAX];
    for (int i = 0; i < n; i++) {
        ModelFile mf;
        if (model_open(&mf, paths[i])) {
            fprintf(stderr, "bench_int8: %s\n", mvla_error_message());
            return 1;
        }
        int is_int8 = mf.policy.int8 != NULL;
        snprintf(names[i], sizeof names[i], "%s", mf.policy.cfg.name);
        model_file_free(&mf);
        char q[4500];
        snprintf(q, sizeof q, "%s/int8_%d.safetensors", dir, i);
        if (!is_int8 && quantize_synthetic(paths[i], q)) {
            fprintf(stderr, "bench_int8: %s\n", mvla_error_message());
            return 1;
        }
        for (int t = 1; t <= 2; t++) {
            if (!is_int8 && bench_steps(paths[i], "fp32", t, I8_REF)) return 1;
            char label[64];
            snprintf(label, sizeof label, "int8 %s", i8_kernel_name(i8_kernel_best()));
            if (bench_steps(is_int8 ? paths[i] : q, label, t, i8_kernel_best())) return 1;
        }
        /* the other kernels at 1 thread */
        for (int k = 0; k < I8_NKERNELS; k++) {
            if (k == (int)i8_kernel_best() || !i8_kernel_available((I8Kernel)k)) continue;
            char label[64];
            snprintf(label, sizeof label, "int8 %s", i8_kernel_name((I8Kernel)k));
            if (bench_steps(is_int8 ? paths[i] : q, label, 1, (I8Kernel)k)) return 1;
        }
        size_fp32[i] = is_int8 ? -1 : file_size(paths[i]);
        size_int8[i] = file_size(is_int8 ? paths[i] : q);
        if (!n_files) {
            unlink(paths[i]);
            char ck[4400];
            snprintf(ck, sizeof ck, "%s/ckpt%d.safetensors", dir, i);
            unlink(ck);
        }
        unlink(q);
    }
    printf("\n## File sizes (%s)\n\n| model | fp32 | int8 | ratio |\n|---|---|---|---|\n",
           n_files ? "the files given; int8 quantised here on synthetic frames" : "random weights");
    for (int i = 0; i < n; i++) {
        if (size_fp32[i] < 0) printf("| %s | - | %.3f MB | - |\n", names[i], size_int8[i] / 1e6);
        else printf("| %s | %.3f MB | %.3f MB | %.2fx |\n", names[i], size_fp32[i] / 1e6, size_int8[i] / 1e6,
                    (double)size_fp32[i] / size_int8[i]);
    }
    rmdir(dir);
    return 0;
}
