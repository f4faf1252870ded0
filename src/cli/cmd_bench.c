/* mvla bench MODEL... [options]: latency percentiles, steps/s, per-stage time and peak RSS of model
 * files through the runtime path of `mvla run` (runtime/bench_run.h); --dump writes one fixed run's
 * inputs and outputs for the PyTorch peer to check. */
#include "cli/commands_runtime.h"

#include "base/error.h"
#include "base/file.h"
#include "base/progress.h"
#include "data/preprocess.h"
#include "runtime/bench_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 16
#define MAX_THREADS 8

static void bench_usage(FILE *fp)
{
    fprintf(fp, "usage: mvla bench MODEL [MODEL ...] [options]\n"
                "  MODEL               model files (`mvla export`, `mvla quantize`): each is opened and stepped\n"
                "                      through the C API, as `mvla run` does\n"
                "  --threads LIST      thread counts, comma-separated (default 1,2)\n"
                "  --steps N           timed steps per model and thread count (default 300)\n"
                "  --warmup N          untimed steps first (default: 20, or the head's window if longer)\n"
                "  --size WxH          synthetic camera frames of this size, BGR (default 640x480)\n"
                "  --frames PATH       step on real frames instead: an episode .h5, an image folder or a\n"
                "                      frame cache (.cache); up to 64 frames, cycled\n"
                "  --instruction TEXT  (default: the model's default instruction)\n"
                "  --json              print the results as JSON instead of a Markdown table\n"
                "  --json-file PATH    also write the JSON results to PATH\n"
                "  --dump PATH         instead of timing: step --steps frames (default 12) of the first model\n"
                "                      from a fresh episode and write frames, model inputs, actions, chunks,\n"
                "                      head outputs and instruction tokens to PATH (.safetensors), for\n"
                "                      bench/peers/student_torch.py to compare against\n"
                "  --quiet             no progress on stderr\n"
                "output: per model and thread count: latency p50/p90/p99 (ms per step), steps/s, mean time in\n"
                "preprocess (resize, channel order, normalisation), encoder and head, peak RSS (MB)\n");
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        fprintf(stderr, "mvla: bench: %s %s: expected an integer in %ld..%ld\n", opt, v ? v : "(missing)", lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_threads(const char *v, int *threads, int *n)
{
    *n = 0;
    const char *s = v;
    while (s && *s) {
        char *end;
        long t = strtol(s, &end, 10);
        if (end == s || t < 1 || t > 256 || (*end && *end != ',') || *n == MAX_THREADS) {
            fprintf(stderr, "mvla: bench: --threads %s: expected up to %d comma-separated counts, e.g. 1,2\n", v,
                    MAX_THREADS);
            return -1;
        }
        threads[(*n)++] = (int)t;
        s = *end ? end + 1 : end;
    }
    if (*n == 0) {
        fprintf(stderr, "mvla: bench: --threads needs a value, e.g. 1,2\n");
        return -1;
    }
    return 0;
}

typedef struct {
    Progress bar;
    int started, show;
    char label[96];
} BenchUi;

static void on_progress(void *ctx, long done, long total)
{
    BenchUi *u = ctx;
    if (!u->show) return;
    if (!u->started) progress_start(&u->bar, u->label, total, "step"), u->started = 1;
    progress_update(&u->bar, done, NULL);
    if (done == total) progress_finish(&u->bar), u->started = 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *models[MAX_MODELS], *frames_path = NULL, *instruction = NULL, *json_file = NULL, *dump = NULL;
    int n_models = 0, threads[MAX_THREADS] = {1, 2}, n_threads = 2, json = 0, quiet = 0, w = 640, h = 480;
    long steps = 0, warmup = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1, takes = 0;
        else if (!strcmp(a, "--quiet")) quiet = 1, takes = 0;
        else if (!strcmp(a, "--threads")) bad = parse_threads(v, threads, &n_threads);
        else if (!strcmp(a, "--steps")) bad = parse_long(a, v, 1, 100000000, &steps);
        else if (!strcmp(a, "--warmup")) bad = parse_long(a, v, 0, 1000000, &warmup);
        else if (!strcmp(a, "--size")) {
            if (!v || preprocess_parse_size(v, &w, &h)) {
                fprintf(stderr, "mvla: bench: --size %s: expected WxH, e.g. 640x480\n", v ? v : "(missing)");
                bad = 1;
            }
        } else if (!strcmp(a, "--frames") || !strcmp(a, "--instruction") || !strcmp(a, "--json-file") ||
                   !strcmp(a, "--dump")) {
            if (!v) {
                fprintf(stderr, "mvla: bench: %s needs a value\n", a);
                return 2;
            }
            *(!strcmp(a, "--frames") ? &frames_path : !strcmp(a, "--instruction") ? &instruction
              : !strcmp(a, "--dump") ? &dump : &json_file) = v;
        } else if (a[0] == '-' || n_models == MAX_MODELS) {
            fprintf(stderr, "mvla: bench: unexpected argument \"%s\"\n", a);
            bench_usage(stderr);
            return 2;
        } else {
            models[n_models++] = a, takes = 0;
        }
        if (bad) return 2;
        i += takes;
    }
    if (n_models == 0) {
        bench_usage(stderr);
        return 2;
    }
    BenchFrames frames;
    int rc = frames_path ? bench_frames_load(&frames, frames_path, BENCH_MAX_FRAMES)
                         : bench_frames_synthetic(&frames, w, h, dump ? 8 : 16);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    if (dump) {
        rc = bench_dump(models[0], &frames, steps > 0 ? (int)(steps < 4096 ? steps : 4096) : 12, instruction, dump);
        bench_frames_free(&frames);
        if (rc) {
            fprintf(stderr, "mvla: %s\n", mvla_error_message());
            return 1;
        }
        if (!quiet) fprintf(stderr, "mvla: wrote %s\n", dump);
        return 0;
    }
    BenchResult results[MAX_MODELS * MAX_THREADS];
    int n = 0;
    BenchUi ui = {.show = !quiet};
    BenchOptions opt = {.steps = steps, .warmup = warmup, .instruction = instruction, .progress = on_progress,
                        .progress_ctx = &ui};
    for (int m = 0; m < n_models && !rc; m++)
        for (int t = 0; t < n_threads && !rc; t++) {
            snprintf(ui.label, sizeof ui.label, "bench %.60s t%d", models[m], threads[t]);
            rc = bench_model(models[m], threads[t], &opt, &frames, &results[n]);
            if (!rc) n++;
        }
    if (rc) fprintf(stderr, "mvla: %s\n", mvla_error_message());
    char *text = n ? bench_results_json(results, n) : NULL;
    if (n && !text) fprintf(stderr, "mvla: bench: out of memory\n"), rc = 1;
    if (text && json) printf("%s\n", text);
    else if (n) {
        printf("Frames: %s; each row: %ld timed steps after %ld warm-up steps, one episode.\n\n", frames.source,
               results[0].steps, results[0].warmup);
        bench_write_markdown(stdout, results, n);
    }
    if (text && json_file && file_write_atomic(json_file, text, strlen(text))) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        rc = 1;
    }
    free(text);
    bench_frames_free(&frames);
    return rc ? 1 : 0;
}
