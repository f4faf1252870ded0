/* CLIP image encoder latency and throughput against PyTorch, same weights, same run.
 *   build/bench/bench_clip [--preset ViT-B/32|ViT-B/16|ViT-L/14] [--batch N] [--iters N] [--no-peer]
 * Writes a random model of the preset's real shape (Hugging Face layout) and random pixel_values to a
 * temp folder; mvla loads it with clip_load, the peer (bench/peers/clip_torch.py, Debian's python3-torch,
 * eager, torch.inference_mode) reads the same files. For 1 and 2 threads and batch 1 and N (default 8),
 * prints, for mvla in fp32 and in int8 (models/clip_int8.h), ms per image (median and best wall clock, median
 * CPU time of all threads), images/s, GFLOP/s (a multiply-add counts 2; int8 counts the same operations), and
 * the largest difference and smallest cosine similarity between mvla's and torch's image_embeds.
 * On a shared machine the wall-clock numbers move with other processes' load; the 1-thread CPU time does not.
 * On AVX-512 x86 machines OpenBLAS 0.3.21 may pick its Haswell (AVX2) kernels: OPENBLAS_CORETYPE=SKYLAKEX in
 * the environment selects the AVX-512 ones (about 30% less time here). */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/clip_int8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PEER "bench/peers/clip_torch.py"
#define MAX_ITERS 64

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-forward times in ms: wall-clock median and best, and the median process CPU time (all threads;
 * with 1 thread it is what the forward costs even when other processes share the cores). */
typedef struct {
    double median, best, cpu;
} Timing;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* `iters` no_grad forwards after two warm-ups (the first sizes the arena, the second touches its pages);
 * embeds (B*P floats) receives the output. With q, the int8 forward. */
static Timing time_mvla(const ClipModel *m, const ClipVisionInt8 *q, Tensor *px, int iters, float *embeds)
{
    Graph *g = graph_new();
    graph_set_grad(g, 0);
    double t[MAX_ITERS], c[MAX_ITERS];
    ClipOutput out;
    for (int i = -2; i < iters; i++) {
        graph_reset(g);
        double t0 = time_now(), c0 = cpu_now();
        if (q ? clip_vision_int8_forward(g, q, px, 0, &out) : clip_vision_forward(g, m, px, 0, &out)) {
            fprintf(stderr, "bench_clip: %s\n", mvla_error_message());
            exit(1);
        }
        if (i >= 0) t[i] = 1e3 * (time_now() - t0), c[i] = 1e3 * (cpu_now() - c0);
    }
    memcpy(embeds, out.embeds->data, (size_t)out.embeds->numel * sizeof(float));
    graph_free(g);
    qsort(t, (size_t)iters, sizeof t[0], cmp_double);
    qsort(c, (size_t)iters, sizeof c[0], cmp_double);
    return (Timing){t[iters / 2], t[0], c[iters / 2]};
}

static double json_number(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? atof(p + strlen(pat)) : -1;
}

/* Runs the peer (median < 0 when it failed) and fills embeds from its output file. */
static Timing time_peer(const char *dir, const char *inputs, int threads, int iters, float *embeds, long n)
{
    char cmd[4096], out_path[1100];
    snprintf(out_path, sizeof out_path, "%s/peer_out.safetensors", dir);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d /usr/bin/python3 %s '%s' '%s' '%s' %d %d", threads, PEER, dir, inputs,
             out_path, threads, iters);
    Timing tm = {-1, -1, -1};
    FILE *fp = popen(cmd, "r");
    char line[1024] = "";
    if (fp) {
        while (fgets(line, sizeof line, fp))
            if (strstr(line, "median_ms"))
                tm = (Timing){json_number(line, "median_ms"), json_number(line, "best_ms"),
                              json_number(line, "median_cpu_ms")};
        if (pclose(fp) != 0) tm.median = -1;
    }
    SafeTensors *st = NULL;
    if (tm.median > 0 && st_open(&st, out_path) == 0) {
        const StTensor *t = st_find(st, "image_embeds");
        if (t && t->numel == n) st_to_f32(t, embeds);
        else tm.median = -1;
        st_close(st);
    } else {
        tm.median = -1;
    }
    return tm;
}

static double max_diff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The smallest cosine similarity between matching rows ([rows, P]) of a and b. */
static double min_cosine(const float *a, const float *b, int rows, int P)
{
    double worst = 1.0;
    for (int r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int k = 0; k < P; k++) {
            double x = a[(long)r * P + k], y = b[(long)r * P + k];
            ab += x * y, aa += x * x, bb += y * y;
        }
        worst = fmin(worst, ab / (sqrt(aa) * sqrt(bb) + 1e-30));
    }
    return worst;
}

int main(int argc, char **argv)
{
    const char *preset = "ViT-B/32";
    int batch = 8, iters = 0, use_peer = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-peer") == 0) use_peer = 0;
        else {
            fprintf(stderr, "usage: bench_clip [--preset ViT-B/32|ViT-B/16|ViT-L/14] [--batch N] [--iters N] "
                            "[--no-peer]\n");
            return 2;
        }
    }
    if (batch < 1 || iters < 0 || iters > MAX_ITERS) {
        fprintf(stderr, "bench_clip: --batch >= 1, --iters 1..%d\n", MAX_ITERS);
        return 2;
    }
    ClipConfig cfg;
    if (clip_config_preset(&cfg, preset)) {
        fprintf(stderr, "bench_clip: %s\n", mvla_error_message());
        return 2;
    }
    if (use_peer && access(PEER, R_OK) != 0) {
        fprintf(stderr, "bench_clip: %s not found (run from the repository root); running without the peer\n", PEER);
        use_peer = 0;
    }
    char dir[] = "/tmp/mvla_bench_clip_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_clip: mkdtemp");
        return 1;
    }
    /* the model: random weights in the real shape, written in HF layout and read back */
    ClipModel *gen = NULL, *m = NULL;
    if (clip_create_random(&gen, &cfg, CLIP_TOWER_VISION, 1) || clip_save(gen, dir) || clip_load(&m, dir, 0)) {
        fprintf(stderr, "bench_clip: %s\n", mvla_error_message());
        return 1;
    }
    clip_free(gen);
    ClipVisionInt8 *q8 = NULL;
    if (clip_vision_int8_new(&q8, m)) {
        fprintf(stderr, "bench_clip: %s\n", mvla_error_message());
        return 1;
    }
    int R = cfg.vision.image_size, P = cfg.projection_dim;
    double gflop_per_image = 2e-9 * clip_vision_macs(m);
    printf("CLIP %s image encoder, %d tokens, %.2f GFLOP per image (random weights, HF layout, %s)\n", preset,
           clip_vision_tokens(&cfg.vision), gflop_per_image, dir);
    printf("ms per image: wall-clock median (best) of the forwards, and the median CPU time of all threads;\n"
           "images/s, GFLOP/s and the time ratio from the best wall-clock time (the least disturbed by other\n"
           "processes); int8 GFLOP/s counts the same fp32-equivalent operations. int8 (kernel %s): per-channel s8\n"
           "weights, per-token dynamic u8 activations (models/clip_int8.h); torch runs fp32 (the same torch\n"
           "numbers are repeated on the int8 row); the last column is the smallest per-image cosine similarity of\n"
           "image_embeds to torch's.\n\n"
           "| batch | threads | mvla mode | mvla ms/image | mvla CPU ms | mvla images/s | mvla GFLOP/s | torch ms/image "
           "| torch CPU ms | torch GFLOP/s | mvla/torch time | max abs embeds diff | min cosine |\n"
           "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           i8_kernel_name(clip_vision_int8_kernel(q8)));
    int batches[2] = {1, batch};
    for (int bi = 0; bi < (batch > 1 ? 2 : 1); bi++) {
        int B = batches[bi];
        Tensor *px = tensor_new_shape(4, B, 3, R, R);
        Rng r;
        rng_seed(&r, 2);
        tensor_fill_normal(px, &r, 1.0f);
        char inputs[1100];
        snprintf(inputs, sizeof inputs, "%s/inputs_b%d.safetensors", dir, B);
        StWriter *w = st_writer_new();
        if (st_writer_add_tensor(w, "pixel_values", px) || st_writer_save(w, inputs)) {
            fprintf(stderr, "bench_clip: %s\n", mvla_error_message());
            return 1;
        }
        st_writer_free(w);
        int n_iters = iters ? iters : (B == 1 ? 15 : 5);
        float *ours = malloc((size_t)B * P * sizeof(float)), *theirs = malloc((size_t)B * P * sizeof(float));
        float *ours8 = malloc((size_t)B * P * sizeof(float));
        for (int threads = 1; threads <= 2; threads++) {
            mvla_set_threads(threads);
            Timing a = time_mvla(m, NULL, px, n_iters, ours);
            Timing a8 = time_mvla(m, q8, px, n_iters, ours8);
            Timing b = use_peer ? time_peer(dir, inputs, threads, n_iters, theirs, (long)B * P)
                                : (Timing){-1, -1, -1};
            for (int mode = 0; mode < 2; mode++) {
                Timing t = mode ? a8 : a;
                const float *e = mode ? ours8 : ours;
                printf("| %d | %d | %s | %.1f (%.1f) | %.1f | %.1f | %.1f |", B, threads, mode ? "int8" : "fp32",
                       t.median / B, t.best / B, t.cpu / B, B / (t.best * 1e-3), gflop_per_image * B / (t.best * 1e-3));
                if (b.median > 0)
                    printf(" %.1f (%.1f) | %.1f | %.1f | %.2f | %.1e | %.5f |\n", b.median / B, b.best / B, b.cpu / B,
                           gflop_per_image * B / (b.best * 1e-3), t.best / b.best, max_diff(e, theirs, (long)B * P),
                           min_cosine(e, theirs, B, P));
                else
                    printf(" - | - | - | - | %.1e (vs fp32) | %.5f (vs fp32) |\n", max_diff(e, ours, (long)B * P),
                           min_cosine(e, ours, B, P));
            }
            fflush(stdout);
        }
        free(ours), free(theirs), free(ours8);
        tensor_free(px);
        unlink(inputs);
    }
    char path[1100];
    const char *files[] = {"config.json", "model.safetensors", "peer_out.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    clip_vision_int8_free(q8);
    clip_free(m);
    return 0;
}
