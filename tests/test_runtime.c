/* The runtime: model file export/open, the public C API (include/mvla.h), the safety layer and
 * `mvla run`. Models are tiny fresh policies (student_init + student_save): no training needed. */
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "episode_testutil.h"
#include "model_testutil.h"
#include "io/safetensors.h"
#include "models/policy.h"
#include "runtime/model_file.h"
#include "runtime/run_loop.h"
#include "runtime/safety.h"

#include <jansson.h>
#include <mvla.h>
#include <stdlib.h>
#include <string.h>

#define RT_W 32
#define RT_H 16

/* A tiny policy (the "tiny" preset's shape, chunk 2, window 3) with non-trivial action stats. */
static int rt_policy(StudentPolicy *p, uint64_t seed)
{
    static const char json[] =
        "{\"name\": \"rt\", \"feature_dim\": 16, \"dropout\": 0,"
        " \"encoder\": {\"input_width\": 32, \"input_height\": 16, \"width_mult\": 1.0, \"stem_channels\": 8,"
        "   \"blocks\": [{\"kernel\": 3, \"expand\": 16, \"out\": 16, \"stride\": 2},"
        "              {\"kernel\": 3, \"expand\": 32, \"out\": 16, \"stride\": 1}], \"final_channels\": 16},"
        " \"instruction\": {\"vocab\": 64, \"dim\": 8, \"hidden\": 16, \"out_dim\": 8, \"max_tokens\": 24},"
        " \"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 16},"
        " \"action\": {\"chunk\": 2, \"kind\": \"continuous\"}}";
    StudentConfig c;
    int rc = student_config_parse(&c, json, "rt");
    if (!rc) rc = student_init(p, &c, seed);
    const float mean[3] = {0.1f, -0.05f, 0.02f}, scale[3] = {1.2f, 0.8f, 1.5f};
    if (!rc) rc = student_set_action_stats(p, mean, scale);
    return rc;
}

/* Writes a checkpoint and its model file into the test's scratch folder. */
static int rt_make_model(char *ckpt, char *model, size_t n)
{
    snprintf(ckpt, n, "%s/ckpt.safetensors", test_tmpdir());
    snprintf(model, n, "%s/model.safetensors", test_tmpdir());
    StudentPolicy p;
    int rc = rt_policy(&p, 7);
    if (rc) return rc;
    rc = student_save(&p, ckpt, NULL, 0);
    student_free(&p);
    return rc ? rc : model_export(ckpt, model);
}

/* Pseudo-random RGB frame of w x h. */
static void rt_frame(uint8_t *px, int w, int h, int seed)
{
    uint32_t s = 2654435761u * (uint32_t)(seed + 1);
    for (long i = 0; i < (long)w * h * 3; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)(s >> 24);
    }
}

static void swap_rb(uint8_t *px, long n)
{
    for (long i = 0; i < n; i++) {
        uint8_t t = px[3 * i];
        px[3 * i] = px[3 * i + 2];
        px[3 * i + 2] = t;
    }
}

TEST(runtime_export_open_matches_runner)
{
    char ckpt[1024], model[1024];
    REQUIRE(rt_make_model(ckpt, model, sizeof ckpt) == 0);
    mvla_model *m = NULL;
    REQUIRE(mvla_open(&m, model, NULL) == MVLA_OK);
    CHECK(mvla_chunk_size(m) == 2);
    float lim[3];
    mvla_action_limits(m, lim);
    CHECK_NEAR(lim[0], 1.15, 1e-6);

    StudentPolicy ref, folded;
    REQUIRE(student_load(&ref, ckpt) == 0);
    REQUIRE(student_load(&folded, ckpt) == 0);
    REQUIRE(student_fold_batchnorm(&folded) == 0);
    StudentRunner *r_ref = student_runner_new(&ref), *r_fold = student_runner_new(&folded);
    REQUIRE(r_ref && r_fold);
    const char *text = "Navigate to the cup on the left";
    REQUIRE(student_runner_set_instruction(r_ref, text) == 0);
    REQUIRE(student_runner_set_instruction(r_fold, text) == 0);
    REQUIRE(mvla_set_instruction(m, text) == MVLA_OK);
    uint8_t px[RT_W * RT_H * 3];
    double worst_fold = 0, worst_ref = 0;
    for (int t = 0; t < 6; t++) {
        rt_frame(px, RT_W, RT_H, t);
        float a[3], c[6], af[3], cf[6], ar[3];
        REQUIRE(mvla_step(m, px, RT_W, RT_H, MVLA_RGB, a, c) == MVLA_OK);
        REQUIRE(student_runner_step_rgb(r_fold, px, af, cf) == 0);
        REQUIRE(student_runner_step_rgb(r_ref, px, ar, NULL) == 0);
        worst_fold = fmax(worst_fold, fmax(max_abs_diff(a, af, 3), max_abs_diff(c, cf, 6)));
        worst_ref = fmax(worst_ref, max_abs_diff(a, ar, 3));
        CHECK_NEAR(a[0], c[0], 1e-6);  /* no ensembling: the action is the chunk's first entry */
    }
    /* Same computation as the training-time runner on the folded policy: bitwise. Against the
     * unfolded one only rounding differs (folding reorders the batch-norm arithmetic). */
    CHECK_MSG(worst_fold == 0, "model file vs folded runner differ by %g", worst_fold);
    CHECK_MSG(worst_ref <= 1e-4, "model file vs unfolded runner differ by %g", worst_ref);
    student_runner_free(r_ref);
    student_runner_free(r_fold);
    student_free(&ref);
    student_free(&folded);
    mvla_close(m);
}

TEST(runtime_channel_order)
{
    char ckpt[1024], model[1024];
    REQUIRE(rt_make_model(ckpt, model, sizeof ckpt) == 0);
    mvla_model *m = NULL;
    REQUIRE(mvla_open(&m, model, NULL) == MVLA_OK);
    enum { W = 57, H = 31 };  /* any size: the model resizes */
    uint8_t *rgb = malloc(W * H * 3), *bgr = malloc(W * H * 3);
    REQUIRE(rgb && bgr);
    rt_frame(rgb, W, H, 3);
    memcpy(bgr, rgb, W * H * 3);
    swap_rb(bgr, W * H);
    float a_rgb[3], a_bgr[3], a_wrong[3];
    REQUIRE(mvla_step(m, rgb, W, H, MVLA_RGB, a_rgb, NULL) == MVLA_OK);
    REQUIRE(mvla_reset(m) == MVLA_OK);
    REQUIRE(mvla_step(m, bgr, W, H, MVLA_BGR, a_bgr, NULL) == MVLA_OK);
    REQUIRE(mvla_reset(m) == MVLA_OK);
    REQUIRE(mvla_step(m, bgr, W, H, MVLA_RGB, a_wrong, NULL) == MVLA_OK);
    CHECK(max_abs_diff(a_rgb, a_bgr, 3) == 0);
    CHECK_MSG(max_abs_diff(a_rgb, a_wrong, 3) > 1e-6, "a wrongly declared channel order gave the same action");
    CHECK(mvla_step(m, rgb, W, H, 7, a_rgb, NULL) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_last_error(), "channel order") != NULL);
    free(rgb);
    free(bgr);
    mvla_close(m);
}

TEST(runtime_safety_layer)
{
    SafetyConfig c = {{1.0f, 0.5f, 2.0f}, 1, 0.1f, 0.2};
    float a[3] = {NAN, 0.3f, 0.3f};
    CHECK(safety_apply(&c, a, 0.0) && !strcmp(safety_apply(&c, (float[3]){INFINITY, 0, 0}, 0), "nonfinite_output"));
    CHECK(a[0] == 0 && a[1] == 0 && a[2] == 0);
    float b[3] = {0.7f, 0.3f, -0.4f};
    const char *why = safety_apply(&c, b, 0.5);
    CHECK(why && !strcmp(why, "stale_source"));
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0);
    float d[3] = {3.0f, -0.05f, -2.5f};
    CHECK(safety_apply(&c, d, 0.1) == NULL);
    CHECK(d[0] == 1.0f && d[1] == 0.0f && d[2] == -2.0f);
    c.clamp = 0;
    c.timeout_s = 0;
    float e[3] = {3.0f, 0.09f, -0.11f};
    CHECK(safety_apply(&c, e, 100.0) == NULL);
    CHECK(e[0] == 3.0f && e[1] == 0.0f && e[2] == -0.11f);
}

TEST(runtime_bad_model_files)
{
    char ckpt[1024], model[1024], bad[1024];
    REQUIRE(rt_make_model(ckpt, model, sizeof ckpt) == 0);
    mvla_model *m = NULL;
    /* a training checkpoint is not a model file */
    CHECK(mvla_open(&m, ckpt, NULL) == MVLA_ERR_FORMAT && m == NULL);
    CHECK(strstr(mvla_last_error(), "mvla export") != NULL);
    /* truncated */
    char *data;
    size_t size;
    REQUIRE(file_read_all(model, &data, &size) == 0);
    snprintf(bad, sizeof bad, "%s/truncated.safetensors", test_tmpdir());
    FILE *fp = fopen(bad, "wb");
    REQUIRE(fp);
    fwrite(data, 1, size / 2, fp);
    fclose(fp);
    free(data);
    CHECK(mvla_open(&m, bad, NULL) != MVLA_OK && m == NULL);
    CHECK_MSG(strstr(mvla_last_error(), "truncated.safetensors") != NULL, "%s", mvla_last_error());
    /* newer format version */
    SafeTensors *st;
    REQUIRE(st_open(&st, model) == 0);
    json_t *root = json_loads(st_metadata(st, MODEL_META_KEY), 0, NULL);
    st_close(st);
    REQUIRE(root);
    json_object_set_new(root, "format_version", json_integer(99));
    char *meta99 = json_dumps(root, 0);
    json_object_set_new(root, "format_version", json_integer(1));
    json_object_del(root, "action");
    char *no_action = json_dumps(root, 0);
    json_decref(root);
    snprintf(bad, sizeof bad, "%s/v99.safetensors", test_tmpdir());
    REQUIRE(mt_rewrite(model, bad, NULL, meta99) == 0);
    CHECK(mvla_open(&m, bad, NULL) == MVLA_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(mvla_last_error(), "format_version 99 is newer") != NULL, "%s", mvla_last_error());
    /* missing metadata key */
    snprintf(bad, sizeof bad, "%s/noaction.safetensors", test_tmpdir());
    REQUIRE(mt_rewrite(model, bad, NULL, no_action) == 0);
    CHECK(mvla_open(&m, bad, NULL) == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_last_error(), "action") != NULL, "%s", mvla_last_error());
    /* missing tensor */
    snprintf(bad, sizeof bad, "%s/notensor.safetensors", test_tmpdir());
    REQUIRE(mt_rewrite(model, bad, "out.weight", NULL) == 0);
    CHECK(mvla_open(&m, bad, NULL) == MVLA_ERR_FORMAT && m == NULL);
    CHECK_MSG(strstr(mvla_last_error(), "\"out.weight\" is missing") != NULL, "%s", mvla_last_error());
    free(meta99);
    free(no_action);
    /* the good file still opens */
    REQUIRE(mvla_open(&m, model, NULL) == MVLA_OK);
    mvla_close(m);
}

TEST(runtime_cli_run_episode)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set) ");
        return;
    }
    char cmd[4096], ckpt[1024], model[1024], ep[1024];
    snprintf(cmd, sizeof cmd, "%s run --help >/dev/null 2>&1", bin);
    if (system(cmd) != 0) {
        fprintf(stderr, "(skipped: `mvla run` is not registered in %s) ", bin);
        return;
    }
    REQUIRE(rt_make_model(ckpt, model, sizeof ckpt) == 0);
    const char *keys = "wwaqd ";
    REQUIRE(write_key_episode(test_tmpdir(), "episode_20250101_120000_1box_vert_left_core_medium.h5", keys, 24, 40, 1) == 0);
    join_path(ep, sizeof ep, test_tmpdir(), "episode_20250101_120000_1box_vert_left_core_medium.h5");
    snprintf(cmd, sizeof cmd, "%s run '%s' --source '%s' --clamp --dead-zone 0.01", bin, model, ep);
    FILE *fp = popen(cmd, "r");
    REQUIRE(fp);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        CHECK_MSG(j != NULL, "line %d is not JSON: %s", n, line);
        CHECK(json_integer_value(json_object_get(j, "step")) == n);
        CHECK(json_is_number(json_object_get(j, "t")) && json_is_number(json_object_get(j, "latency_ms")));
        CHECK(json_array_size(json_object_get(j, "action")) == 3);
        CHECK(json_array_size(json_object_get(j, "chunk")) == 6);
        for (int i = 0; i < 3; i++) {
            double v = json_number_value(json_array_get(json_object_get(j, "action"), (size_t)i));
            CHECK(fabs(v) <= 1.15 + 1e-6);
        }
        json_decref(j);
        n++;
    }
    CHECK(pclose(fp) == 0);
    CHECK_MSG(n == 1 + (int)strlen(keys), "%d lines for %d frames", n, 1 + (int)strlen(keys));
    /* --max-steps stops early and says why */
    snprintf(cmd, sizeof cmd, "%s run '%s' --source '%s' --max-steps 2 | tail -n 1", bin, model, ep);
    fp = popen(cmd, "r");
    REQUIRE(fp);
    CHECK(fgets(line, sizeof line, fp) && strstr(line, "\"step\": 1") && strstr(line, "\"stopped_reason\": \"max_steps\""));
    pclose(fp);
    /* a bad source fails cleanly */
    snprintf(cmd, sizeof cmd, "%s run '%s' --source /nonexistent 2>/dev/null", bin, model);
    CHECK(system(cmd) != 0);
}
