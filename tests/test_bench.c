/* `mvla bench` and its PyTorch peer: the peer's re-implementation of the student (bench/peers/
 * student_torch.py, through tests/ref/gen_student_policy.py) and mvla's runtime path give the same
 * outputs on three tiny model files covering the architecture's branches; the bench library's
 * numbers, reports and dump; the command line. */
#include "test.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "models/instruction.h"
#include "ref.h"
#include "runtime/api_internal.h"
#include "runtime/bench_run.h"

#include <jansson.h>
#include <mvla.h>
#include <stdlib.h>
#include <string.h>

static const char *const CONFIGS[] = {"film_lstm", "concat_tf", "discrete_none"};

static void ref_model_path(char *buf, size_t n, const char *name)
{
    const char *dir = getenv("MVLA_REF_DIR");
    snprintf(buf, n, "%s/student_policy_%s.safetensors", dir ? dir : "tests/ref", name);
}

/* Steps the reference frames through mvla_step (RGB at the model's input size, the model's default
 * instruction) and compares every step with PyTorch's. */
static void check_parity(const char *name)
{
    char path[1024], key[128];
    ref_model_path(path, sizeof path, name);
    mvla_model *m = NULL;
    REQUIRE(mvla_open(&m, path, NULL) == MVLA_OK);
    const ModelFile *mf = mvla_internal_model_file(m);
    const StudentConfig *c = &mf->policy.cfg;
    int K = c->action.chunk, V = mf->policy.out_dim, W = mf->pre.width, H = mf->pre.height;
    snprintf(key, sizeof key, "%s.frames", name);
    Tensor *frames = ref_load("student_policy.safetensors", key);
    snprintf(key, sizeof key, "%s.tokens", name);
    Tensor *tokens = ref_load("student_policy.safetensors", key);
    REQUIRE(frames && tokens);
    REQUIRE(frames->ndim == 4 && frames->shape[1] == H && frames->shape[2] == W && frames->shape[3] == 3);
    int T = frames->shape[0];

    InstrTokens tok;
    REQUIRE(instr_tokenize(&c->instruction, mf->instruction, &tok) == 0);
    CHECK_MSG(tok.n == tokens->numel, "%s: %d tokens, PyTorch's tokenizer %ld", name, tok.n, tokens->numel);
    for (int i = 0; i < tok.n && i < tokens->numel; i++)
        CHECK_MSG(tok.ids[i] == (int)tokens->data[i], "%s: token %d: %d vs %d", name, i, tok.ids[i],
                  (int)tokens->data[i]);

    REQUIRE(mvla_set_instruction(m, NULL) == MVLA_OK);
    uint8_t *px = malloc((size_t)W * H * 3);
    float *outs = malloc((size_t)T * K * V * sizeof(float)), *chunks = malloc((size_t)T * K * 3 * sizeof(float));
    float *actions = malloc((size_t)T * 3 * sizeof(float));
    REQUIRE(px && outs && chunks && actions);
    for (int t = 0; t < T; t++) {
        for (long i = 0; i < (long)W * H * 3; i++) px[i] = (uint8_t)frames->data[(long)t * W * H * 3 + i];
        REQUIRE(mvla_step(m, px, W, H, MVLA_RGB, actions + 3 * t, chunks + (long)t * K * 3) == MVLA_OK);
        /* A frame already at the input size passes preprocessing unchanged. */
        CHECK_MSG(memcmp(mvla_internal_input(m), px, (size_t)W * H * 3) == 0, "%s: step %d: resize is not the "
                  "identity at the input size", name, t);
        memcpy(outs + (long)t * K * V, mvla_internal_output(m), (size_t)K * V * sizeof(float));
    }
    snprintf(key, sizeof key, "%s.outputs", name);
    ref_check("student_policy.safetensors", key, outs, (long)T * K * V, 1e-4, 1e-4);
    snprintf(key, sizeof key, "%s.chunks", name);
    ref_check("student_policy.safetensors", key, chunks, (long)T * K * 3, 2e-4, 1e-4);
    snprintf(key, sizeof key, "%s.actions", name);
    ref_check("student_policy.safetensors", key, actions, (long)T * 3, 2e-4, 1e-4);
    free(px), free(outs), free(chunks), free(actions);
    tensor_free(frames);
    tensor_free(tokens);
    mvla_close(m);
}

TEST(bench_torch_peer_parity_film_lstm) { check_parity(CONFIGS[0]); }
TEST(bench_torch_peer_parity_concat_transformer) { check_parity(CONFIGS[1]); }
TEST(bench_torch_peer_parity_discrete_none) { check_parity(CONFIGS[2]); }

TEST(bench_model_numbers_and_reports)
{
    char path[1024];
    ref_model_path(path, sizeof path, "film_lstm");
    BenchFrames f;
    REQUIRE(bench_frames_synthetic(&f, 80, 60, 4) == 0);
    CHECK(f.n == 4 && f.width[0] == 80 && f.height[3] == 60 && f.order[0] == MVLA_BGR);
    CHECK(memcmp(f.pixels[0], f.pixels[1], 80 * 60 * 3) != 0);
    BenchOptions o = {.steps = 30, .warmup = 3};
    BenchResult r[2];
    REQUIRE(bench_model(path, 1, &o, &f, &r[0]) == 0);
    CHECK(r[0].threads == 1 && r[0].steps == 30);
    CHECK(!strcmp(r[0].name, "film_lstm") && !strcmp(r[0].quantization, "none"));
    CHECK(r[0].file_mb > 0.01 && r[0].file_mb < 1);
    CHECK(r[0].min_ms > 0 && r[0].min_ms <= r[0].p50_ms && r[0].p50_ms <= r[0].p90_ms && r[0].p90_ms <= r[0].p99_ms &&
          r[0].p99_ms <= r[0].max_ms);
    CHECK(r[0].mean_ms >= r[0].min_ms && r[0].mean_ms <= r[0].max_ms);
    CHECK_NEAR(r[0].steps_per_s, 1e3 / r[0].mean_ms, 1e-6 * r[0].steps_per_s);
    CHECK(r[0].preprocess_ms > 0 && r[0].encoder_ms > 0 && r[0].head_ms > 0);
    CHECK_MSG(r[0].preprocess_ms + r[0].encoder_ms + r[0].head_ms <= r[0].mean_ms * 1.001,
              "stages %.4f + %.4f + %.4f exceed the step %.4f ms", r[0].preprocess_ms, r[0].encoder_ms, r[0].head_ms,
              r[0].mean_ms);
    CHECK(r[0].peak_rss_mb > 1);
    REQUIRE(bench_model(path, 2, &o, &f, &r[1]) == 0);
    CHECK(r[1].threads == 2);

    char *json = bench_results_json(r, 2);
    REQUIRE(json);
    json_t *arr = json_loads(json, 0, NULL);
    CHECK(json_array_size(arr) == 2);
    json_t *row = json_array_get(arr, 1);
    CHECK(json_integer_value(json_object_get(row, "threads")) == 2);
    CHECK_NEAR(json_number_value(json_object_get(row, "p50_ms")), r[1].p50_ms, 1e-5 * r[1].p50_ms);
    static const char *const keys[] = {"model", "policy", "quantization", "steps_per_s", "p90_ms", "p99_ms",
                                       "preprocess_ms", "encoder_ms", "head_ms", "peak_rss_mb"};
    for (int i = 0; i < 10; i++) CHECK_MSG(json_object_get(row, keys[i]) != NULL, "JSON row lacks %s", keys[i]);
    json_decref(arr);
    free(json);

    char *md = NULL;
    size_t md_len = 0;
    FILE *fp = open_memstream(&md, &md_len);
    REQUIRE(fp);
    bench_write_markdown(fp, r, 2);
    fclose(fp);
    CHECK(strstr(md, "| p50 ms |") && strstr(md, "student_policy_film_lstm.safetensors | film_lstm | none"));
    int lines = 0;
    for (const char *s = md; *s; s++) lines += *s == '\n';
    CHECK(lines == 4);
    free(md);

    /* the default warm-up fills the window (3 here) and then some */
    BenchOptions d = {.steps = 2, .warmup = -1};
    REQUIRE(bench_model(path, 1, &d, &f, &r[0]) == 0);
    CHECK(r[0].warmup == 20 && r[0].steps == 2);
    /* bad inputs */
    CHECK(bench_model(path, 0, &o, &f, &r[0]) == MVLA_ERR_ARG);
    CHECK(bench_model("/nonexistent.safetensors", 1, &o, &f, &r[0]) != 0);
    CHECK(strstr(mvla_error_message(), "/nonexistent.safetensors") != NULL);
    bench_frames_free(&f);
    CHECK(bench_frames_synthetic(&f, 80, 60, 0) == MVLA_ERR_ARG);
    CHECK(bench_frames_synthetic(&f, 0, 60, 2) == MVLA_ERR_ARG);
}

static void on_progress(void *ctx, long done, long total)
{
    long *calls = ctx;
    CHECK(done > 0 && done <= total && total == 50);
    (*calls)++;
}

TEST(bench_progress_and_frames_from_folder)
{
    char path[1024];
    ref_model_path(path, sizeof path, "discrete_none");
    BenchFrames f;
    REQUIRE(bench_frames_synthetic(&f, 32, 24, 2) == 0);
    long calls = 0;
    BenchOptions o = {.steps = 50, .warmup = 0, .progress = on_progress, .progress_ctx = &calls};
    BenchResult r;
    REQUIRE(bench_model(path, 1, &o, &f, &r) == 0);
    CHECK_MSG(calls == 2, "progress called %ld times for 50 steps (every 25)", calls);
    bench_frames_free(&f);
    /* Frames from an image folder: not one there */
    CHECK(bench_frames_load(&f, test_tmpdir(), 8) != 0);
    CHECK(strstr(mvla_error_message(), "no .png") != NULL);
}

TEST(bench_dump_matches_steps)
{
    char path[1024], out[1024];
    ref_model_path(path, sizeof path, "concat_tf");
    snprintf(out, sizeof out, "%s/dump.safetensors", test_tmpdir());
    BenchFrames f;
    REQUIRE(bench_frames_synthetic(&f, 48, 40, 3) == 0);
    REQUIRE(bench_dump(path, &f, 5, "turn left at the box", out) == 0);
    SafeTensors *st;
    REQUIRE(st_open(&st, out) == 0);
    const StTensor *frames = st_find(st, "frames"), *inputs = st_find(st, "inputs"), *actions = st_find(st, "actions");
    const StTensor *chunks = st_find(st, "chunks"), *outputs = st_find(st, "outputs"), *tokens = st_find(st, "tokens");
    REQUIRE(frames && inputs && actions && chunks && outputs && tokens);
    CHECK(frames->dtype == ST_U8 && frames->ndim == 4 && frames->shape[0] == 5 && frames->shape[1] == 40 &&
          frames->shape[2] == 48);
    CHECK(inputs->dtype == ST_U8 && inputs->shape[1] == 24 && inputs->shape[2] == 24);
    CHECK(chunks->ndim == 3 && chunks->shape[1] == 3 && outputs->shape[2] == 3 && tokens->dtype == ST_I32);
    CHECK(memcmp(frames->data, f.pixels[0], 48 * 40 * 3) == 0);
    CHECK(memcmp((const uint8_t *)frames->data + 3 * 48 * 40 * 3, f.pixels[0], 48 * 40 * 3) == 0); /* cycled */
    const char *meta = st_metadata(st, "mvla.bench_dump");
    CHECK(meta && strstr(meta, "turn left at the box"));
    /* The same steps through a fresh handle give the dumped actions and inputs. */
    mvla_model *m;
    REQUIRE(mvla_open(&m, path, NULL) == MVLA_OK);
    REQUIRE(mvla_set_instruction(m, "turn left at the box") == MVLA_OK);
    const float *a = (const float *)actions->data;
    for (int t = 0; t < 5; t++) {
        float act[3], ch[9];
        REQUIRE(mvla_step(m, f.pixels[t % 3], 48, 40, MVLA_BGR, act, ch) == MVLA_OK);
        CHECK(memcmp(act, a + 3 * t, sizeof act) == 0);
        CHECK(memcmp(ch, (const float *)chunks->data + 9 * t, sizeof ch) == 0);
        CHECK(memcmp(mvla_internal_input(m), (const uint8_t *)inputs->data + (long)t * 24 * 24 * 3, 24 * 24 * 3) == 0);
    }
    mvla_timing tm;
    REQUIRE(mvla_get_timing(m, &tm) == MVLA_OK);
    CHECK(tm.steps == 5 && tm.encoder_s > 0 && tm.head_s > 0 && tm.preprocess_s >= 0);
    CHECK(mvla_get_timing(NULL, &tm) == MVLA_ERR_ARG);
    mvla_close(m);
    st_close(st);
    bench_frames_free(&f);
}

TEST(bench_cli)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set) ");
        return;
    }
    char cmd[4096], path[1024], jf[1024], *out = NULL;
    ref_model_path(path, sizeof path, "film_lstm");
    snprintf(jf, sizeof jf, "%s/bench.json", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s bench '%s' '%s' --threads 1 --steps 5 --warmup 1 --size 64x48 --quiet --json",
             bin, path, path);
    REQUIRE(test_run_capture(cmd, &out) == 0);
    json_t *arr = json_loads(out, 0, NULL);
    CHECK_MSG(json_array_size(arr) == 2, "not a JSON array of 2 rows: %s", out);
    CHECK(json_integer_value(json_object_get(json_array_get(arr, 0), "steps")) == 5);
    json_decref(arr);
    free(out);
    snprintf(cmd, sizeof cmd, "%s bench '%s' --threads 1,2 --steps 3 --warmup 0 --size 32x24 --quiet --json-file '%s'",
             bin, path, jf);
    REQUIRE(test_run_capture(cmd, &out) == 0);
    CHECK(strstr(out, "| model | policy |") && strstr(out, "synthetic 32x24"));
    free(out);
    json_error_t e;
    arr = json_load_file(jf, 0, &e);
    CHECK(json_array_size(arr) == 2);
    json_decref(arr);
    snprintf(cmd, sizeof cmd, "%s bench '%s' --threads 0 2>/dev/null", bin, path);
    CHECK(test_run_capture(cmd, &out) == 2);
    free(out);
    snprintf(cmd, sizeof cmd, "%s bench /nonexistent.safetensors --steps 2 --quiet 2>&1", bin);
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK(strstr(out, "/nonexistent.safetensors") != NULL);
    free(out);
}
