/* Ensemble model files (runtime/model_file.h): `mvla export A B` -> one file whose actions are the
 * members' mean, through every path that steps a model file (C API, runtime Policy, int8, `mvla eval`).
 * Members are tiny fresh policies (student_init + student_save) with different seeds and action stats. */
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "base/threads.h"
#include "data/dataset.h"
#include "data/split.h"
#include "episode_testutil.h"
#include "model_testutil.h"
#include "io/safetensors.h"
#include "models/policy.h"
#include "models/policy_int8.h"
#include "runtime/model_file.h"
#include "runtime/model_policy.h"
#include "runtime/quantize.h"
#include "train/ensemble_run.h"
#include "train/evaluate.h"
#include "train/leaderboard.h"

#include <jansson.h>
#include <mvla.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EN_W 32
#define EN_H 16

/* A tiny student (input width w, chunk 2, window 3) with action stats that depend on the seed. */
static int en_policy(StudentPolicy *p, uint64_t seed, int w)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\": \"en%d\", \"feature_dim\": 16, \"dropout\": 0,"
             " \"encoder\": {\"input_width\": %d, \"input_height\": 16, \"width_mult\": 1.0, \"stem_channels\": 8,"
             "   \"blocks\": [{\"kernel\": 3, \"expand\": 16, \"out\": 16, \"stride\": 2},"
             "              {\"kernel\": 3, \"expand\": 32, \"out\": 16, \"stride\": 1}], \"final_channels\": 16},"
             " \"instruction\": {\"vocab\": 64, \"dim\": 8, \"hidden\": 16, \"out_dim\": 8, \"max_tokens\": 24},"
             " \"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 16},"
             " \"action\": {\"chunk\": 2, \"kind\": \"continuous\"}}",
             (int)seed, w);
    StudentConfig c;
    int rc = student_config_parse(&c, json, "en");
    if (!rc) rc = student_init(p, &c, seed);
    float s = (float)(seed % 5);
    const float mean[3] = {0.1f * s, -0.05f, 0.02f * s}, scale[3] = {1.2f, 0.8f + 0.1f * s, 1.5f};
    if (!rc) rc = student_set_action_stats(p, mean, scale);
    return rc;
}

/* Writes scratch/NAME.ckpt.safetensors (input width w) into path. */
static int en_checkpoint(char *path, size_t n, const char *name, uint64_t seed, int w)
{
    snprintf(path, n, "%s/%s.ckpt.safetensors", test_tmpdir(), name);
    StudentPolicy p;
    int rc = en_policy(&p, seed, w);
    if (!rc) rc = student_save(&p, path, NULL, 0);
    student_free(&p);
    return rc;
}

/* Two checkpoints (seeds 7 and 8), each exported alone, and their ensemble. */
static int en_make(char ck[2][1024], char single[2][1024], char *ens, size_t n)
{
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        rc = en_checkpoint(ck[i], 1024, name, 7 + (uint64_t)i, EN_W);
        snprintf(single[i], 1024, "%s/m%d.safetensors", test_tmpdir(), i);
        if (!rc) rc = model_export(ck[i], single[i]);
    }
    snprintf(ens, n, "%s/ens.safetensors", test_tmpdir());
    const char *paths[2] = {ck[0], ck[1]};
    return rc ? rc : model_export_ensemble(paths, 2, ens, 0);
}

static void en_frame(uint8_t *px, int w, int h, int seed)
{
    uint32_t s = 2654435761u * (uint32_t)(seed + 1);
    for (long i = 0; i < (long)w * h * 3; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)(s >> 24);
    }
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The "mvla.model" object of a model file (json_decref it). */
static json_t *en_meta(const char *path)
{
    SafeTensors *st;
    if (st_open(&st, path)) return NULL;
    json_t *j = json_loads(st_metadata(st, MODEL_META_KEY) ? st_metadata(st, MODEL_META_KEY) : "", 0, NULL);
    st_close(st);
    return j;
}

/* (a) + (e): through the C API, the ensemble's action and chunk are the mean of its members' own model
 * files stepped separately, frame after frame (history included); the runtime Policy agrees. */
TEST(ensemble_steps_mean_of_members)
{
    char ck[2][1024], single[2][1024], ens[1024];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    json_t *meta = en_meta(ens);
    REQUIRE(meta);
    CHECK(json_integer_value(json_object_get(meta, "members")) == 2);
    json_t *pm = json_object_get(json_object_get(meta, "provenance"), "members");
    CHECK(json_array_size(pm) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(pm, 1), "checkpoint")), ck[1]));
    json_decref(meta);
    SafeTensors *st;
    REQUIRE(st_open(&st, ens) == 0);
    CHECK(st_find(st, "members.1.out.action_mean") && st_find(st, "members.0.out.action_scale"));
    CHECK(st_find(st, "out.weight") == NULL);
    st_close(st);

    mvla_model *e = NULL, *m[2] = {NULL, NULL};
    REQUIRE(mvla_open(&e, ens, NULL) == MVLA_OK);
    REQUIRE(mvla_open(&m[0], single[0], NULL) == MVLA_OK && mvla_open(&m[1], single[1], NULL) == MVLA_OK);
    CHECK(mvla_chunk_size(e) == 2);
    const char *text = "Navigate to the cup on the left";
    REQUIRE(mvla_set_instruction(e, text) == MVLA_OK);
    for (int i = 0; i < 2; i++) REQUIRE(mvla_set_instruction(m[i], text) == MVLA_OK);
    Policy pol;
    REQUIRE(model_policy_open(&pol, ens) == 0);
    REQUIRE(policy_reset(&pol, text) == 0);
    enum { W = 45, H = 27 }; /* resized to the members' input */
    uint8_t px[W * H * 3];
    double worst = 0, members_apart = 0, worst_pol = 0;
    for (int t = 0; t < 6; t++) {
        en_frame(px, W, H, t);
        float a[3], c[6], a0[3], c0[6], a1[3], c1[6], ap[3];
        REQUIRE(mvla_step(e, px, W, H, MVLA_BGR, a, c) == MVLA_OK);
        REQUIRE(mvla_step(m[0], px, W, H, MVLA_BGR, a0, c0) == MVLA_OK);
        REQUIRE(mvla_step(m[1], px, W, H, MVLA_BGR, a1, c1) == MVLA_OK);
        REQUIRE(policy_step(&pol, px, W, H, POLICY_BGR, ap) == 0);
        for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(a[k] - 0.5 * (a0[k] + a1[k])));
        for (int k = 0; k < 6; k++) worst = fmax(worst, fabs(c[k] - 0.5 * (c0[k] + c1[k])));
        members_apart = fmax(members_apart, max_abs_diff(a0, a1, 3));
        worst_pol = fmax(worst_pol, max_abs_diff(a, ap, 3));
    }
    CHECK_MSG(worst <= 1e-5, "ensemble vs mean of members differ by %g", worst);
    CHECK_MSG(members_apart > 1e-3, "the members act the same (%g): the test checks nothing", members_apart);
    CHECK_MSG(worst_pol == 0, "runtime Policy vs C API differ by %g", worst_pol);
    mvla_timing tm;
    CHECK(mvla_get_timing(e, &tm) == MVLA_OK && tm.steps == 6);
    policy_destroy(&pol);
    mvla_close(e);
    mvla_close(m[0]);
    mvla_close(m[1]);
}

/* Mirror averaging (`export --mirror`): a mirrored file's action is the mean of the policy on the frame
 * with its instruction and of the policy on the flipped frame with left and right swapped, mirrored
 * back; chunks too. The flag is in the metadata, an ensemble keeps it, and a malformed one is refused. */
TEST(ensemble_mirror_averages_the_mirrored_world)
{
    char ck[2][1024], single[2][1024], ens[1024], mir[1024], ens_mir[1024];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    snprintf(mir, sizeof mir, "%s/mirror.safetensors", test_tmpdir());
    snprintf(ens_mir, sizeof ens_mir, "%s/ens-mirror.safetensors", test_tmpdir());
    const char *one[1] = {ck[0]}, *two[2] = {ck[0], ck[1]};
    REQUIRE(model_export_ensemble(one, 1, mir, 1) == 0);
    REQUIRE(model_export_ensemble(two, 2, ens_mir, 1) == 0);
    json_t *meta = en_meta(mir);
    REQUIRE(meta);
    CHECK(json_is_true(json_object_get(meta, "mirror")) && !json_object_get(meta, "members"));
    json_decref(meta);
    ModelFile mf;
    REQUIRE(model_open(&mf, ens_mir) == 0);
    CHECK(mf.mirror == 1 && mf.n_members == 2);
    model_file_free(&mf);

    mvla_model *m = NULL, *plain = NULL, *flipped = NULL;
    REQUIRE(mvla_open(&m, mir, NULL) == MVLA_OK);
    REQUIRE(mvla_open(&plain, single[0], NULL) == MVLA_OK && mvla_open(&flipped, single[0], NULL) == MVLA_OK);
    REQUIRE(mvla_set_instruction(m, "Navigate to the cup on the left") == MVLA_OK);
    REQUIRE(mvla_set_instruction(plain, "Navigate to the cup on the left") == MVLA_OK);
    REQUIRE(mvla_set_instruction(flipped, "Navigate to the cup on the right") == MVLA_OK);
    enum { W = EN_W, H = EN_H }; /* the input size: no resampling, so flipping commutes exactly */
    uint8_t px[W * H * 3], fx[W * H * 3];
    double worst = 0, apart = 0;
    for (int t = 0; t < 5; t++) {
        en_frame(px, W, H, t);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) memcpy(fx + (y * W + x) * 3, px + (y * W + W - 1 - x) * 3, 3);
        float a[3], c[6], a0[3], c0[6], a1[3], c1[6];
        REQUIRE(mvla_step(m, px, W, H, MVLA_RGB, a, c) == MVLA_OK);
        REQUIRE(mvla_step(plain, px, W, H, MVLA_RGB, a0, c0) == MVLA_OK);
        REQUIRE(mvla_step(flipped, fx, W, H, MVLA_RGB, a1, c1) == MVLA_OK);
        for (int k = 0; k < 2; k++) c1[3 * k + 1] = -c1[3 * k + 1], c1[3 * k + 2] = -c1[3 * k + 2];
        a1[1] = -a1[1], a1[2] = -a1[2];
        for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(a[k] - 0.5 * (a0[k] + a1[k])));
        for (int k = 0; k < 6; k++) worst = fmax(worst, fabs(c[k] - 0.5 * (c0[k] + c1[k])));
        apart = fmax(apart, max_abs_diff(a0, a1, 3));
    }
    CHECK_MSG(worst <= 1e-5, "mirror averaging vs the mean of the two views differ by %g", worst);
    CHECK_MSG(apart > 1e-3, "the policy acts the same on both views (%g): the test checks nothing", apart);
    mvla_close(m);
    mvla_close(plain);
    mvla_close(flipped);

    char bad[1024];
    snprintf(bad, sizeof bad, "%s/bad-mirror.safetensors", test_tmpdir());
    meta = en_meta(mir);
    REQUIRE(meta);
    json_object_set_new(meta, "mirror", json_string("yes"));
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    REQUIRE(text && mt_rewrite(mir, bad, NULL, text) == 0);
    free(text);
    CHECK(model_open(&mf, bad) == MVLA_ERR_FORMAT && strstr(mvla_error_message(), "mirror") &&
          strstr(mvla_error_message(), bad));
}

/* The runs of a mirrored ensemble step in parallel with several threads: the actions and chunks are the very
 * same bits as on one thread. */
TEST(ensemble_steps_the_same_on_any_thread_count)
{
    char ck[2][1024], single[2][1024], ens[1024], ens_mir[1024];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    snprintf(ens_mir, sizeof ens_mir, "%s/ens-mirror-threads.safetensors", test_tmpdir());
    const char *two[2] = {ck[0], ck[1]};
    REQUIRE(model_export_ensemble(two, 2, ens_mir, 1) == 0);
    int threads = mvla_get_threads();
    mvla_model *m[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        REQUIRE(mvla_open(&m[i], ens_mir, NULL) == MVLA_OK);
        REQUIRE(mvla_set_instruction(m[i], "Navigate to the cup on the right") == MVLA_OK);
    }
    uint8_t px[EN_W * EN_H * 3];
    int same = 1;
    for (int t = 0; t < 5; t++) {
        en_frame(px, EN_W, EN_H, t);
        float a[2][3], c[2][6];
        for (int i = 0; i < 2; i++) {
            mvla_set_threads(i == 0 ? 1 : 4); /* 4: one thread per run */
            REQUIRE(mvla_step(m[i], px, EN_W, EN_H, MVLA_RGB, a[i], c[i]) == MVLA_OK);
        }
        same &= memcmp(a[0], a[1], sizeof a[0]) == 0 && memcmp(c[0], c[1], sizeof c[0]) == 0;
    }
    mvla_set_threads(threads);
    CHECK_MSG(same, "a mirrored ensemble steps differently on 1 and 4 threads");
    mvla_close(m[0]);
    mvla_close(m[1]);
}

/* (b): one checkpoint exports as before: the ensemble entry point and the CLI give the very bytes of
 * model_export, with no "members" key and no prefixed tensors. */
TEST(ensemble_single_checkpoint_export_unchanged)
{
    char ck[1024], a[1024], b[1024];
    REQUIRE(en_checkpoint(ck, sizeof ck, "one", 11, EN_W) == 0);
    snprintf(a, sizeof a, "%s/a.safetensors", test_tmpdir());
    snprintf(b, sizeof b, "%s/b.safetensors", test_tmpdir());
    REQUIRE(model_export(ck, a) == 0);
    const char *paths[1] = {ck};
    REQUIRE(model_export_ensemble(paths, 1, b, 0) == 0);
    char *x, *y;
    size_t nx, ny;
    REQUIRE(file_read_all(a, &x, &nx) == 0 && file_read_all(b, &y, &ny) == 0);
    CHECK(nx == ny && memcmp(x, y, nx) == 0);
    free(y);
    const char *bin = getenv("MVLA_BIN");
    if (bin) {
        char cmd[4096], c[1024];
        snprintf(c, sizeof c, "%s/c.safetensors", test_tmpdir());
        snprintf(cmd, sizeof cmd, "'%s' export '%s' -o '%s' 2>/dev/null", bin, ck, c);
        REQUIRE(system(cmd) == 0);
        REQUIRE(file_read_all(c, &y, &ny) == 0);
        CHECK(nx == ny && memcmp(x, y, nx) == 0);
        free(y);
    }
    free(x);
    json_t *meta = en_meta(a);
    REQUIRE(meta);
    CHECK(json_object_get(meta, "members") == NULL);
    json_decref(meta);
    ModelFile mf;
    REQUIRE(model_open(&mf, a) == 0);
    CHECK(mf.n_members == 1 && mf.more == NULL);
    model_file_free(&mf);
}

/* (c): members of different architectures are refused, naming the field and both files; no file. */
TEST(ensemble_refuses_mismatched_members)
{
    char a[1024], b[1024], out[1024];
    REQUIRE(en_checkpoint(a, sizeof a, "narrow", 7, 32) == 0);
    REQUIRE(en_checkpoint(b, sizeof b, "wide", 8, 48) == 0);
    snprintf(out, sizeof out, "%s/bad.safetensors", test_tmpdir());
    const char *paths[2] = {a, b};
    CHECK(model_export_ensemble(paths, 2, out, 0) == MVLA_ERR_ARG);
    const char *msg = mvla_error_message();
    CHECK_MSG(strstr(msg, "encoder.input_width: 32 in ") && strstr(msg, a) && strstr(msg, "48 in ") && strstr(msg, b),
              "message: %s", msg);
    CHECK(!file_exists(out));
    const char *bin = getenv("MVLA_BIN");
    if (bin) { /* the CLI says the same and fails */
        char cmd[4096], *text = NULL;
        snprintf(cmd, sizeof cmd, "'%s' export '%s' '%s' -o '%s' 2>&1", bin, a, b, out);
        CHECK(test_run_capture(cmd, &text) != 0);
        CHECK_MSG(text && strstr(text, "encoder.input_width"), "output: %s", text ? text : "");
        free(text);
        CHECK(!file_exists(out));
    }
    /* too many members */
    const char *nine[9] = {a, a, a, a, a, a, a, a, a};
    CHECK(model_export_ensemble(nine, 9, out, 0) == MVLA_ERR_ARG && !file_exists(out));
}

/* Copies src to dst without tensor `drop` (NULL: none), with the "mvla.model" metadata replaced by meta
 * (NULL: kept). */
/* (d): a member's missing tensor is named; "members" out of 1..8 is refused. */
TEST(ensemble_open_refuses_missing_tensor_and_bad_count)
{
    char ck[2][1024], single[2][1024], ens[1024], bad[1024];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", test_tmpdir());
    REQUIRE(mt_rewrite(ens, bad, "members.1.out.bias", NULL) == 0);
    ModelFile mf;
    CHECK(model_open(&mf, bad) == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "\"members.1.out.bias\" is missing"), "message: %s", mvla_error_message());
    json_t *meta = en_meta(ens);
    REQUIRE(meta);
    const int counts[] = {0, 9, 3};
    for (int i = 0; i < 3; i++) {
        json_object_set_new(meta, "members", json_integer(counts[i]));
        char *text = json_dumps(meta, JSON_COMPACT);
        REQUIRE(text && mt_rewrite(ens, bad, NULL, text) == 0);
        free(text);
        CHECK(model_open(&mf, bad) == MVLA_ERR_FORMAT);
        /* 0 and 9: out of range; 3: member 2's tensors are missing */
        CHECK_MSG(strstr(mvla_error_message(), i < 2 ? "members: expected an integer 1..8" : "\"members.2."),
                  "members %d: %s", counts[i], mvla_error_message());
    }
    json_decref(meta);
    mvla_model *m = NULL;
    CHECK(mvla_open(&m, bad, NULL) == MVLA_ERR_FORMAT && m == NULL);
}

/* (f): quantising an ensemble quantises every member on the same frames; the int8 ensemble opens,
 * runs each member in int8, and acts close to the fp32 ensemble. */
TEST(ensemble_int8_close_to_fp32)
{
    char ck[2][1024], single[2][1024], ens[1024], q8[1024];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    snprintf(q8, sizeof q8, "%s/ens-int8.safetensors", test_tmpdir());
    enum { T = 12 };
    static uint8_t frames[T * EN_W * EN_H * 3];
    for (int t = 0; t < T; t++) en_frame(frames + (size_t)t * EN_W * EN_H * 3, EN_W, EN_H, 100 + t);
    CalibSegment seg[2] = {{"go left", frames, NULL, T / 2, EN_W, EN_H},
                           {"go right", frames + (size_t)(T / 2) * EN_W * EN_H * 3, NULL, T - T / 2, EN_W, EN_H}};
    QuantizeReport *rep = malloc(sizeof *rep);
    REQUIRE(rep);
    REQUIRE(model_quantize(ens, q8, seg, 2, NULL, rep) == 0);
    CHECK(rep->frames == T && rep->n_sites > 0 && rep->n_sites % 2 == 0);
    CHECK(strncmp(rep->site[0].name, "members.0.", 10) == 0 && strncmp(rep->site[rep->n_sites - 1].name, "members.1.", 10) == 0);
    CHECK_MSG(rep->bytes_out < rep->bytes_in, "int8 %ld bytes, fp32 %ld", rep->bytes_out, rep->bytes_in);
    ModelFile mf;
    REQUIRE(model_open(&mf, q8) == 0);
    CHECK(mf.n_members == 2);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(student_int8_count(model_file_member(&mf, i)) == rep->n_sites / 2, "member %d: %d of %d sites in int8",
                  i, student_int8_count(model_file_member(&mf, i)), rep->n_sites / 2);
    model_file_free(&mf);
    mvla_model *a = NULL, *b = NULL;
    REQUIRE(mvla_open(&a, ens, NULL) == MVLA_OK && mvla_open(&b, q8, NULL) == MVLA_OK);
    REQUIRE(mvla_set_instruction(a, "go right") == MVLA_OK && mvla_set_instruction(b, "go right") == MVLA_OK);
    double worst = 0;
    for (int t = 0; t < 8; t++) {
        uint8_t px[EN_W * EN_H * 3];
        en_frame(px, EN_W, EN_H, 7 * t + 1);
        float xa[3], xb[3], ca[6], cb[6];
        REQUIRE(mvla_step(a, px, EN_W, EN_H, MVLA_RGB, xa, ca) == MVLA_OK);
        REQUIRE(mvla_step(b, px, EN_W, EN_H, MVLA_RGB, xb, cb) == MVLA_OK);
        worst = fmax(worst, max_abs_diff(ca, cb, 6));
    }
    /* the single model's stated tolerance (test_int8.c): 0.05 raw units at worst */
    CHECK_MSG(worst < 0.05 && worst > 0, "int8 vs fp32 ensemble differ by %g", worst);
    mvla_close(a);
    mvla_close(b);
    free(rep);
}

/* Eight episodes (one scenario per pair of sides) and a 50/25/25 split manifest. */
static int en_dataset(const char *base, char *data, char *manifest)
{
    snprintf(data, 1024, "%s/data", base);
    snprintf(manifest, 1024, "%s/split.json", base);
    mkdir(data, 0755);
    static const char *const scen[] = {"1box_vert", "1box_hori", "2box_vert", "2box_hori"};
    int rc = 0;
    for (int k = 0; k < 8 && !rc; k++) {
        char name[256];
        snprintf(name, sizeof name, "episode_20250101_1200%02d_%s_%s_core_medium.h5", k, scen[k / 2],
                 k % 2 ? "right" : "left");
        rc = write_key_episode(data, name, k % 2 ? " wwddww" : " wwaaww", 24, 40, k);
    }
    Dataset *ds;
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    if (rc || (rc = dataset_open(&ds, data, &dopt))) return rc;
    SplitOptions so;
    split_options_default(&so);
    so.train = 0.5, so.val = 0.25, so.test = 0.25;
    so.seed = 3;
    SplitManifest *m;
    rc = split_make_from_dataset(ds, &so, &m);
    dataset_free(ds);
    if (rc) return rc;
    rc = split_write(m, manifest);
    split_manifest_free(m);
    return rc;
}

/* (g): offline evaluation of a model file: one member's file scores as its checkpoint does; the
 * ensemble through `mvla eval` writes its JSON beside the model by default, with "members": 2. */
TEST(ensemble_eval_model_file)
{
    char ck[2][1024], single[2][1024], ens[1024], data[1024], manifest[1024], cache[1200];
    REQUIRE(en_make(ck, single, ens, sizeof ens) == 0);
    REQUIRE(en_dataset(test_tmpdir(), data, manifest) == 0);
    snprintf(cache, sizeof cache, "%s/frames.cache", test_tmpdir());
    EvalOptions eo;
    eval_options_default(&eo);
    eo.data_dir = data;
    eo.manifest = manifest;
    eo.cache_path = cache;
    eo.instruction_test = 0;
    EvalReport rc_ck, rc_file;
    eo.checkpoint = ck[0];
    REQUIRE(eval_run(&eo, &rc_ck) == 0);
    eo.checkpoint = single[0];
    REQUIRE(eval_run(&eo, &rc_file) == 0);
    CHECK(rc_ck.episodes > 0 && rc_ck.frames == rc_file.frames && rc_file.members == 1);
    /* the model file's batch norm is folded: the same actions up to rounding */
    CHECK_NEAR(rc_ck.overall.mae, rc_file.overall.mae, 1e-4);
    eval_report_free(&rc_ck);
    eval_report_free(&rc_file);

    /* leakage: a test episode named among member 1's training episodes refuses the test split */
    SplitSets *sets;
    REQUIRE(split_load(manifest, data, -1, &sets) == 0);
    REQUIRE(sets->test.n > 0);
    json_t *meta = en_meta(ens);
    REQUIRE(meta);
    json_t *member1 = json_array_get(json_object_get(json_object_get(meta, "provenance"), "members"), 1);
    REQUIRE(member1);
    json_object_set_new(member1, "train_episodes", json_pack("[s]", sets->test.e[0].hash));
    split_sets_free(sets);
    char *text = json_dumps(meta, JSON_COMPACT), leaky[1200];
    json_decref(meta);
    snprintf(leaky, sizeof leaky, "%s/leaky.safetensors", test_tmpdir());
    REQUIRE(text && mt_rewrite(ens, leaky, NULL, text) == 0);
    free(text);
    eo.checkpoint = leaky;
    CHECK(eval_run(&eo, &rc_file) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "training set"), "message: %s", mvla_error_message());
    eo.split = "train"; /* asked for: allowed */
    REQUIRE(eval_run(&eo, &rc_file) == 0);
    CHECK(rc_file.members == 2);
    eval_report_free(&rc_file);

    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(CLI part skipped: MVLA_BIN not set) ");
        return;
    }
    char cmd[8192], json_path[1200];
    snprintf(cmd, sizeof cmd, "'%s' eval '%s' --data '%s' --manifest '%s' --no-instruction-test >/dev/null 2>&1", bin,
             ens, data, manifest);
    REQUIRE(system(cmd) == 0);
    snprintf(json_path, sizeof json_path, "%s/ens.eval.json", test_tmpdir());
    json_t *j = json_load_file(json_path, 0, NULL);
    REQUIRE(j);
    CHECK(json_integer_value(json_object_get(j, "members")) == 2);
    CHECK(json_integer_value(json_object_get(j, "episodes")) > 0);
    CHECK(json_is_number(json_object_get(json_object_get(j, "overall"), "mae")));
    json_decref(j);
    char cache2[1200];
    snprintf(cache2, sizeof cache2, "%s/ens.frames.cache", test_tmpdir());
    CHECK(file_exists(cache2));
}

/* A fake run folder of `mvla train`: a tiny best checkpoint, config.json, run.json and one epoch line. */
static int en_run(const char *runs, const char *name, uint64_t seed, const char *manifest_hash)
{
    char dir[1200], path[1400], text[1024];
    snprintf(dir, sizeof dir, "%s/%s/checkpoints", runs, name);
    int rc = file_make_dirs(dir);
    StudentPolicy p;
    if (!rc) rc = en_policy(&p, seed, EN_W);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    rc = student_save(&p, path, NULL, 0);
    long params = student_param_count(&p);
    student_free(&p);
    snprintf(path, sizeof path, "%s/%s/config.json", runs, name);
    if (!rc) rc = file_write_atomic(path, "{\"preset\": \"tiny\"}", 18);
    snprintf(text, sizeof text, "{\"format\": \"mvla-run\", \"data_dir\": \"/d/sim\", \"manifest_hash\": \"%s\","
             " \"fold\": -1, \"episodes\": {\"train\": 5, \"val\": 2, \"test\": 1}, \"parameters\": %ld,"
             " \"features\": \"32x16 concat lstm\"}", manifest_hash, params);
    snprintf(path, sizeof path, "%s/%s/run.json", runs, name);
    if (!rc) rc = file_write_atomic(path, text, strlen(text));
    const char *epoch = "{\"type\":\"epoch\",\"epoch\":1,\"step\":4,\"train_loss\":0.5,\"val_loss\":0.6,\"val_mae\":0.2}\n";
    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", runs, name);
    if (!rc) rc = file_write_atomic(path, epoch, strlen(epoch));
    return rc;
}

TEST(ensemble_run_folder_is_a_leaderboard_row)
{
    char runs[700], a[800], b[800], c[800], out[800], path[900];
    snprintf(runs, sizeof runs, "%s/ens_runs", test_tmpdir());
    snprintf(a, sizeof a, "%s/a", runs), snprintf(b, sizeof b, "%s/b", runs), snprintf(c, sizeof c, "%s/c", runs);
    snprintf(out, sizeof out, "%s/ab", runs);
    REQUIRE(en_run(runs, "a", 7, "sha256:01") == 0 && en_run(runs, "b", 8, "sha256:01") == 0);
    REQUIRE(en_run(runs, "c", 9, "sha256:02") == 0);

    /* members of different splits: refused, naming the field and both runs, and nothing written */
    const char *bad[2] = {a, c};
    snprintf(path, sizeof path, "%s/ac", runs);
    CHECK(ensemble_run_write(bad, 2, path, 0) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "manifest_hash") && strstr(mvla_error_message(), "/a") &&
          strstr(mvla_error_message(), "/c"));
    snprintf(path, sizeof path, "%s/ac/model.safetensors", runs);
    CHECK(!file_exists(path));
    const char *one[1] = {a};
    CHECK(ensemble_run_write(one, 1, out, 0) == MVLA_ERR_ARG && strstr(mvla_error_message(), "expected 2..8"));

    const char *good[2] = {a, b};
    REQUIRE(ensemble_run_write(good, 2, out, 0) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    ModelFile m;
    REQUIRE(model_open(&m, path) == 0);
    CHECK(m.n_members == 2);
    long member_params = student_param_count(&m.policy);
    model_file_free(&m);
    snprintf(path, sizeof path, "%s/run.json", out);
    json_t *rj = json_load_file(path, 0, NULL);
    REQUIRE(rj);
    CHECK(!strcmp(json_string_value(json_object_get(rj, "format")), "mvla-ensemble"));
    CHECK(json_array_size(json_object_get(rj, "members")) == 2);
    CHECK(json_integer_value(json_object_get(rj, "parameters")) == 2 * member_params);
    CHECK(!strcmp(json_string_value(json_object_get(rj, "features")), "32x16 concat lstm ensemble x2"));
    json_decref(rj);

    /* with an eval.json it ranks beside its members; it has no curves (epochs "-") */
    snprintf(path, sizeof path, "%s/eval.json", out);
    const char *ev = "{\"split\": \"test\", \"overall\": {\"mae\": 0.05, \"perfect_match\": 0.9}}";
    REQUIRE(file_write_atomic(path, ev, strlen(ev)) == 0);
    Leaderboard lb;
    REQUIRE(leaderboard_scan(&lb, runs) == 0);
    REQUIRE(lb.n == 4);
    const LeaderboardRow *top = &lb.rows[0];
    CHECK(!strcmp(top->dir, "ab") && top->epochs == -1 && top->parameters == 2 * member_params);
    CHECK(strstr(top->dataset, "sim (5/2/1)") != NULL);
    char *md = leaderboard_markdown(&lb);
    char expect[200];
    snprintf(expect, sizeof expect, "| 1 | ab | 0.0500 | 90.0%% | - | - | - |");
    CHECK_MSG(md && strstr(md, expect), "%s", md ? md : "(null)");
    free(md);
    leaderboard_free(&lb);
}
