/* `mvla bench`: how fast a model file runs through the runtime path that `mvla run` and the C API
 * use (mvla_open, mvla_step: preprocessing + encoder + temporal head), whatever the model file holds.
 *
 *   BenchFrames f;  bench_frames_synthetic(&f, 640, 480, 16);      camera-sized BGR frames
 *   BenchResult r;  bench_model("m.safetensors", 2, &opt, &f, &r);  one model at one thread count
 *   bench_write_markdown(stdout, &r, 1);  bench_results_json(&r, 1)
 *
 * Per step: the wall time of mvla_step (latency percentiles p50 / p90 / p99 over the timed steps,
 * steps/s = timed steps / their total time); per stage the means from mvla_get_timing (preprocess =
 * resize + channel order + pixel normalisation, encoder = the image encoder on the new frame, head =
 * the temporal head over the window of cached features and the action decoding); peak RSS = the
 * process's VmHWM, reset before the model is opened (/proc/self/clear_refs) so each row measures its
 * own run (when the reset is not allowed, the process lifetime peak from getrusage, flagged).
 * Steps run in one episode, as on the robot, after warm-up steps that fill the head's window.
 *
 * bench_dump runs a fixed sequence of frames through the same path and writes, for the PyTorch peer
 * (bench/peers/student_torch.py) to check against, a safetensors file:
 *   frames  U8  [N, H, W, 3]    the camera frames (BGR)
 *   inputs  U8  [N, h, w, 3]    the model's input after preprocessing (RGB)
 *   actions F32 [N, 3]          the actions mvla_step returned (raw units)
 *   chunks  F32 [N, K, 3]       the whole chunks (raw units)
 *   outputs F32 [N, K, V]       the head's raw outputs (normalised values, or logits)
 *   tokens  I32 [T]             the instruction's token ids
 *   metadata "mvla.bench_dump": {"model", "instruction", "channel_order": "BGR"} */
#ifndef MVLA_BENCH_RUN_H
#define MVLA_BENCH_RUN_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_FRAMES 64

/* Frames to step on, cycled: each with its own size and channel order (MVLA_BGR / MVLA_RGB). */
typedef struct {
    int n;
    uint8_t *pixels[BENCH_MAX_FRAMES];
    int width[BENCH_MAX_FRAMES], height[BENCH_MAX_FRAMES], order[BENCH_MAX_FRAMES];
    char source[256];                 /* "synthetic 640x480" or the path */
} BenchFrames;

/* n (1..BENCH_MAX_FRAMES) deterministic camera-like BGR frames: smooth gradients, shapes and noise. */
int bench_frames_synthetic(BenchFrames *f, int width, int height, int n);
/* Up to max_frames frames: the first ones of an episode .h5 or an image folder, or frames spread over
 * a frame cache (a .cache file: already at the model's input size, RGB). */
int bench_frames_load(BenchFrames *f, const char *path, int max_frames);
void bench_frames_free(BenchFrames *f);

typedef void (*BenchProgressFn)(void *ctx, long done, long total);

typedef struct {
    long steps;            /* timed steps (default 300) */
    long warmup;           /* untimed steps first; < 0: max(20, the head's window), the steady state */
    const char *instruction;   /* NULL: the model's default */
    BenchProgressFn progress;  /* NULL: silent; else called every few steps with the steps done */
    void *progress_ctx;
} BenchOptions;

typedef struct {
    char model[512];
    char name[64];           /* the policy config's name */
    char quantization[32];   /* the model file's "quantization" ("none", "int8", ...) */
    double file_mb;          /* the model file's size */
    int threads;
    long steps, warmup;
    double p50_ms, p90_ms, p99_ms, mean_ms, min_ms, max_ms;
    double steps_per_s;
    double preprocess_ms, encoder_ms, head_ms;   /* means per step */
    double peak_rss_mb;
    int rss_lifetime;        /* 1: the peak is the process's lifetime peak (could not reset it) */
} BenchResult;

/* Opens the model with `threads` compute threads and times o->steps steps on frames (cycled). */
int bench_model(const char *model_path, int threads, const BenchOptions *o, const BenchFrames *frames,
                BenchResult *out);

/* A Markdown table, one row per result. */
void bench_write_markdown(FILE *fp, const BenchResult *r, int n);
/* The results as a JSON array text (malloc'd), NULL when out of memory. */
char *bench_results_json(const BenchResult *r, int n);

/* Steps n frames of `frames` (cycled) from a fresh episode and writes the dump described above. */
int bench_dump(const char *model_path, const BenchFrames *frames, int n, const char *instruction,
               const char *out_path);

#endif
