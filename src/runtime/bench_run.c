/* `mvla bench`: timing a model file through the C API's runtime path (see bench_run.h). */
#include "base/error.h"
#include "base/progress.h"
#include "base/threads.h"
#include "data/cache.h"
#include "io/safetensors.h"
#include "models/instruction.h"
#include "runtime/api_internal.h"
#include "runtime/bench_run.h"
#include "runtime/run_loop.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* ---- frames ---- */

void bench_frames_free(BenchFrames *f)
{
    for (int i = 0; i < f->n; i++) free(f->pixels[i]);
    memset(f, 0, sizeof *f);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

int bench_frames_synthetic(BenchFrames *f, int width, int height, int n)
{
    memset(f, 0, sizeof *f);
    if (width < 1 || height < 1 || width > 8192 || height > 8192 || n < 1 || n > BENCH_MAX_FRAMES)
        return mvla_fail(MVLA_ERR_ARG, "bench: %d synthetic frames of %dx%d: expected 1..%d frames, sides 1..8192", n,
                         width, height, BENCH_MAX_FRAMES);
    snprintf(f->source, sizeof f->source, "synthetic %dx%d BGR", width, height);
    for (int k = 0; k < n; k++) {
        uint8_t *px = malloc((size_t)width * height * 3);
        if (!px) {
            bench_frames_free(f);
            return mvla_fail(MVLA_ERR_NOMEM, "bench: out of memory for frames");
        }
        f->pixels[k] = px, f->width[k] = width, f->height[k] = height, f->order[k] = MVLA_BGR;
        f->n = k + 1;
        uint32_t s = 12345u + 7919u * (uint32_t)k;
        /* A floor/wall gradient, a box that moves with k, and sensor noise. */
        int bx = (int)((0.2 + 0.05 * (k % 8)) * width), by = height / 3, bw = width / 5, bh = height / 4;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) {
                uint8_t *p = px + ((size_t)y * width + x) * 3;
                int floor = y > height / 2;
                int v[3] = {floor ? 90 + 60 * y / height : 170 - 40 * y / height, floor ? 100 : 160, floor ? 110 : 150};
                if (x >= bx && x < bx + bw && y >= by && y < by + bh) v[0] = 40, v[1] = 60, v[2] = 200;
                for (int c = 0; c < 3; c++) {
                    int noise = (int)(lcg(&s) % 17) - 8;
                    int q = v[c] + noise;
                    p[c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
                }
            }
    }
    return 0;
}

static int add_frame(BenchFrames *f, const uint8_t *px, int w, int h, int order)
{
    uint8_t *copy = malloc((size_t)w * h * 3);
    if (!copy) return mvla_fail(MVLA_ERR_NOMEM, "bench: out of memory for frames");
    memcpy(copy, px, (size_t)w * h * 3);
    int i = f->n++;
    f->pixels[i] = copy, f->width[i] = w, f->height[i] = h, f->order[i] = order;
    return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int load_cache_frames(BenchFrames *f, const char *path, int max_frames)
{
    FrameCache *c;
    int rc = cache_open(&c, path);
    if (rc) return rc;
    long total = cache_total_frames(c), index = 0, next = 0;
    int want = total < max_frames ? (int)total : max_frames;
    const Preprocess *pre = cache_preprocess(c);
    /* Frames want evenly spread over the whole cache: the j-th is frame j * total / want. */
    for (int e = 0; e < cache_num_episodes(c) && !rc && f->n < want; e++) {
        const CacheEpisode *ep = cache_episode(c, e);
        for (int t = 0; t < ep->num_frames && !rc && f->n < want; t++, index++)
            if (index == next) {
                rc = add_frame(f, cache_frame(c, e, t), pre->width, pre->height, MVLA_RGB);
                next = (long)f->n * total / want;
            }
    }
    cache_close(c);
    return rc;
}

int bench_frames_load(BenchFrames *f, const char *path, int max_frames)
{
    memset(f, 0, sizeof *f);
    if (max_frames < 1 || max_frames > BENCH_MAX_FRAMES)
        return mvla_fail(MVLA_ERR_ARG, "bench: %d frames: expected 1..%d", max_frames, BENCH_MAX_FRAMES);
    snprintf(f->source, sizeof f->source, "%s", path);
    int rc = 0;
    if (has_suffix(path, ".cache")) {
        rc = load_cache_frames(f, path, max_frames);
    } else { /* episodes and image folders: the first max_frames frames */
        FrameSource *src;
        if ((rc = frame_source_open(&src, path))) return rc;
        while (f->n < max_frames && !rc) {
            const uint8_t *px;
            int w, h, order;
            double t;
            int got = frame_source_next(src, &px, &w, &h, &order, &t);
            if (got <= 0) {
                rc = got < 0 ? -got : 0;
                break;
            }
            rc = add_frame(f, px, w, h, order);
        }
        frame_source_close(src);
    }
    if (!rc && f->n == 0) rc = mvla_fail(MVLA_ERR_ARG, "%s: no frames", path);
    if (rc) bench_frames_free(f);
    return rc;
}

/* ---- memory ---- */

/* Resets the peak RSS to the current RSS; 0 when the kernel allowed it. */
static int rss_reset_peak(void)
{
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (!fp) return -1;
    int ok = fputs("5", fp) >= 0;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* VmHWM in MB, or -1. */
static double rss_peak_mb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtod(line + 6, NULL);
    fclose(fp);
    return kb < 0 ? -1 : kb / 1024.0;
}

/* ---- timing ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percentile q (0..100) of sorted values, linear between order statistics (numpy's default). */
static double percentile(const double *sorted, long n, double q)
{
    if (n == 1) return sorted[0];
    double pos = q / 100.0 * (double)(n - 1);
    long i = (long)pos;
    if (i >= n - 1) return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* The policy name and quantization of a model file's metadata ("?" when absent). */
static void model_labels(const char *path, BenchResult *r)
{
    snprintf(r->name, sizeof r->name, "?");
    snprintf(r->quantization, sizeof r->quantization, "none");
    SafeTensors *st = NULL;
    if (st_open(&st, path)) return;
    json_t *root = json_loads(st_metadata(st, "mvla.model") ? st_metadata(st, "mvla.model") : "", 0, NULL);
    st_close(st);
    json_t *name = json_object_get(json_object_get(root, "architecture"), "name");
    json_t *members = json_object_get(root, "members");
    const char *mirror = json_is_true(json_object_get(root, "mirror")) ? " mirror" : "";
    if (json_is_string(name) && json_integer_value(members) > 1) /* an ensemble */
        snprintf(r->name, sizeof r->name, "%.40s x%d%s", json_string_value(name), (int)json_integer_value(members), mirror);
    else if (json_is_string(name))
        snprintf(r->name, sizeof r->name, "%.40s%s", json_string_value(name), mirror);
    json_t *q = json_object_get(root, "quantization");
    if (json_is_object(q)) {
        const char *keys[] = {"kind", "scheme", "dtype", "type", "weights"};
        for (int i = 0; i < 5; i++)
            if (json_is_string(json_object_get(q, keys[i]))) {
                q = json_object_get(q, keys[i]);
                break;
            }
    }
    if (json_is_string(q)) snprintf(r->quantization, sizeof r->quantization, "%s", json_string_value(q));
    else if (q) snprintf(r->quantization, sizeof r->quantization, "?");
    json_decref(root);
}

int bench_model(const char *model_path, int threads, const BenchOptions *o, const BenchFrames *frames, BenchResult *out)
{
    memset(out, 0, sizeof *out);
    if (threads < 1) return mvla_fail(MVLA_ERR_ARG, "bench: threads %d: expected >= 1", threads);
    if (!frames || frames->n < 1) return mvla_fail(MVLA_ERR_ARG, "bench: no frames");
    long steps = o && o->steps > 0 ? o->steps : 300, warmup = o ? o->warmup : -1;
    snprintf(out->model, sizeof out->model, "%s", model_path);
    out->threads = threads;
    out->steps = steps;
    model_labels(model_path, out);
    struct stat sb;
    if (stat(model_path, &sb) == 0) out->file_mb = (double)sb.st_size / 1e6;
    out->rss_lifetime = rss_reset_peak() != 0;

    double *lat = malloc((size_t)steps * sizeof *lat);
    if (!lat) return mvla_fail(MVLA_ERR_NOMEM, "bench: out of memory");
    mvla_model *m = NULL;
    mvla_options opt = {.threads = threads};
    int rc = mvla_open(&m, model_path, &opt);
    if (!rc && o && o->instruction) rc = mvla_set_instruction(m, o->instruction);
    if (!rc && warmup < 0) { /* steady state: the window full of real frames */
        const ModelFile *mf = mvla_internal_model_file(m);
        long w = mf->clip ? 0 : mf->policy.cfg.head.window;
        warmup = w > 20 ? w : 20;
    }
    out->warmup = warmup;
    int k = rc ? 0 : mvla_chunk_size(m);
    float action[3], *chunk = rc ? NULL : malloc((size_t)k * 3 * sizeof(float));
    if (!rc && !chunk) rc = mvla_fail(MVLA_ERR_NOMEM, "bench: out of memory");
    mvla_timing t0 = {0}, t1 = {0};
    long total = warmup + steps;
    for (long i = 0; i < total && !rc; i++) {
        int f = (int)(i % frames->n);
        if (i == warmup) rc = mvla_get_timing(m, &t0);
        double s = time_now();
        if (!rc) rc = mvla_step(m, frames->pixels[f], frames->width[f], frames->height[f], frames->order[f], action, chunk);
        if (i >= warmup) lat[i - warmup] = time_now() - s;
        if (o && o->progress && ((i + 1) % 25 == 0 || i + 1 == total)) o->progress(o->progress_ctx, i + 1, total);
    }
    if (!rc) rc = mvla_get_timing(m, &t1);
    if (!rc) {
        double sum = 0;
        for (long i = 0; i < steps; i++) sum += lat[i];
        qsort(lat, (size_t)steps, sizeof *lat, cmp_double);
        out->p50_ms = 1e3 * percentile(lat, steps, 50);
        out->p90_ms = 1e3 * percentile(lat, steps, 90);
        out->p99_ms = 1e3 * percentile(lat, steps, 99);
        out->min_ms = 1e3 * lat[0];
        out->max_ms = 1e3 * lat[steps - 1];
        out->mean_ms = 1e3 * sum / (double)steps;
        out->steps_per_s = (double)steps / sum;
        out->preprocess_ms = 1e3 * (t1.preprocess_s - t0.preprocess_s) / (double)steps;
        out->encoder_ms = 1e3 * (t1.encoder_s - t0.encoder_s) / (double)steps;
        out->head_ms = 1e3 * (t1.head_s - t0.head_s) / (double)steps;
        out->peak_rss_mb = rss_peak_mb();
        if (out->peak_rss_mb < 0 || out->rss_lifetime) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            out->peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
            out->rss_lifetime = 1;
        }
    }
    free(chunk);
    free(lat);
    mvla_close(m);
    return rc;
}

/* ---- reports ---- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void bench_write_markdown(FILE *fp, const BenchResult *r, int n)
{
    fprintf(fp, "| model | policy | quant | MB | threads | steps | p50 ms | p90 ms | p99 ms | steps/s | preprocess ms "
                "| encoder ms | head ms | peak RSS MB |\n");
    fprintf(fp, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++)
        fprintf(fp, "| %s | %s | %s | %.2f | %d | %ld | %.3f | %.3f | %.3f | %.0f | %.3f | %.3f | %.3f | %.1f%s |\n",
                base_name(r[i].model), r[i].name, r[i].quantization, r[i].file_mb, r[i].threads, r[i].steps,
                r[i].p50_ms, r[i].p90_ms, r[i].p99_ms, r[i].steps_per_s, r[i].preprocess_ms, r[i].encoder_ms,
                r[i].head_ms, r[i].peak_rss_mb, r[i].rss_lifetime ? " (process)" : "");
}

char *bench_results_json(const BenchResult *r, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n && arr; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
                              "s:f, s:b}",
                              "model", r[i].model, "policy", r[i].name, "quantization", r[i].quantization, "file_mb",
                              r[i].file_mb, "threads", r[i].threads, "steps", (json_int_t)r[i].steps, "warmup",
                              (json_int_t)r[i].warmup, "p50_ms",
                              r[i].p50_ms, "p90_ms", r[i].p90_ms, "p99_ms", r[i].p99_ms, "mean_ms", r[i].mean_ms,
                              "min_ms", r[i].min_ms, "max_ms", r[i].max_ms, "steps_per_s", r[i].steps_per_s,
                              "preprocess_ms", r[i].preprocess_ms, "encoder_ms", r[i].encoder_ms, "head_ms",
                              r[i].head_ms, "peak_rss_mb", r[i].peak_rss_mb, "rss_lifetime", r[i].rss_lifetime);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    char *text = arr ? json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(arr);
    return text;
}

/* ---- dump ---- */

int bench_dump(const char *model_path, const BenchFrames *frames, int n, const char *instruction,
               const char *out_path)
{
    if (n < 1 || !frames || frames->n < 1)
        return mvla_fail(MVLA_ERR_ARG, "bench dump: %d steps over %d frames: expected at least 1 of each", n,
                         frames ? frames->n : 0);
    for (int i = 1; i < frames->n; i++)
        if (frames->width[i] != frames->width[0] || frames->height[i] != frames->height[0])
            return mvla_fail(MVLA_ERR_ARG, "bench dump: frames of different sizes (%dx%d, %dx%d): expected one size",
                             frames->width[0], frames->height[0], frames->width[i], frames->height[i]);
    mvla_model *m = NULL;
    int rc = mvla_open(&m, model_path, NULL);
    if (rc) return rc;
    const ModelFile *mf = mvla_internal_model_file(m);
    if (mf->clip) {
        mvla_close(m);
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: a CLIP model file: the dump is for student policies (their "
                         "PyTorch peer)", model_path);
    }
    if (mf->n_members > 1) {
        mvla_close(m);
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: an ensemble of %d policies: the dump is for one student policy "
                         "(its PyTorch peer); export a member alone", model_path, mf->n_members);
    }
    const StudentConfig *c = &mf->policy.cfg;
    const char *text = instruction ? instruction : mf->instruction;
    int K = c->action.chunk, V = mf->policy.out_dim, W = frames->width[0], H = frames->height[0];
    int w = mf->pre.width, h = mf->pre.height;
    size_t fb = (size_t)W * H * 3, ib = (size_t)w * h * 3;
    uint8_t *cam = malloc(fb * (size_t)n), *in = malloc(ib * (size_t)n);
    float *act = malloc((size_t)n * 3 * sizeof(float)), *chunks = malloc((size_t)n * K * 3 * sizeof(float));
    float *outs = malloc((size_t)n * K * V * sizeof(float));
    InstrTokens tok;
    StWriter *wr = st_writer_new();
    if (!cam || !in || !act || !chunks || !outs || !wr) rc = mvla_fail(MVLA_ERR_NOMEM, "bench dump: out of memory");
    if (!rc) rc = mvla_set_instruction(m, text);
    if (!rc) rc = instr_tokenize(&c->instruction, text, &tok);
    for (int i = 0; i < n && !rc; i++) {
        int f = i % frames->n;
        rc = mvla_step(m, frames->pixels[f], W, H, frames->order[f], act + 3 * i, chunks + (size_t)i * K * 3);
        if (rc) break;
        memcpy(cam + fb * i, frames->pixels[f], fb);
        if (frames->order[f] == MVLA_RGB) /* the dump's frames are BGR */
            for (size_t p = 0; p < fb; p += 3) {
                uint8_t t = cam[fb * i + p];
                cam[fb * i + p] = cam[fb * i + p + 2];
                cam[fb * i + p + 2] = t;
            }
        memcpy(in + ib * i, mvla_internal_input(m), ib);
        memcpy(outs + (size_t)i * K * V, mvla_internal_output(m), (size_t)K * V * sizeof(float));
    }
    if (!rc) {
        int32_t ids[INSTR_MAX_TOKENS];
        for (int i = 0; i < tok.n; i++) ids[i] = tok.ids[i];
        rc = st_writer_add(wr, "frames", ST_U8, 4, (int64_t[]){n, H, W, 3}, cam);
        if (!rc) rc = st_writer_add(wr, "inputs", ST_U8, 4, (int64_t[]){n, h, w, 3}, in);
        if (!rc) rc = st_writer_add(wr, "actions", ST_F32, 2, (int64_t[]){n, 3}, act);
        if (!rc) rc = st_writer_add(wr, "chunks", ST_F32, 3, (int64_t[]){n, K, 3}, chunks);
        if (!rc) rc = st_writer_add(wr, "outputs", ST_F32, 3, (int64_t[]){n, K, V}, outs);
        if (!rc) rc = st_writer_add(wr, "tokens", ST_I32, 1, (int64_t[]){tok.n}, ids);
    }
    if (!rc) {
        json_t *meta = json_pack("{s:s, s:s, s:s}", "model", model_path, "instruction", text, "channel_order", "BGR");
        char *mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
        json_decref(meta);
        rc = mt ? st_writer_set_metadata(wr, "mvla.bench_dump", mt) : mvla_fail(MVLA_ERR_NOMEM, "bench dump: out of memory");
        free(mt);
    }
    if (!rc) rc = st_writer_save(wr, out_path);
    st_writer_free(wr);
    free(cam), free(in), free(act), free(chunks), free(outs);
    mvla_close(m);
    return rc;
}
