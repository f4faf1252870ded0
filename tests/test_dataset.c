/* The dataset index (listing, summaries, instruction resolution, content hashes), the checker on a
 * folder of deliberately broken files (each gives the right line, nothing crashes), and the
 * `mvla data info` / `mvla data check` commands (JSON counts, exit codes). */
#include "base/error.h"
#include "base/hash.h"
#include "data/actions.h"
#include "data/check.h"
#include "data/dataset.h"
#include "episode_testutil.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define GOOD_L "episode_20250101_120000_1box_vert_left_core_medium.h5"
#define GOOD_R "episode_20250101_120100_2box_hori_right_variant_far_evening.h5"

static const char *make_dir(char *buf, size_t n, const char *name)
{
    join_path(buf, n, test_tmpdir(), name);
    mkdir(buf, 0755);
    return buf;
}

/* Writes an episode from explicit frames and actions (events: the writer's defaults). */
static int write_custom(const char *dir, const char *name, int T, int H, int W, const uint8_t *frames,
                        const float *actions)
{
    EpisodeInfo in = {0};
    in.num_frames = T, in.height = H, in.width = W;
    in.actions = (float *)actions;
    in.total_duration = 0.4 * T;
    in.collection_hour = in.collection_minute = -1;
    char path[1024];
    return episode_write(join_path(path, sizeof path, dir, name), &in, frames);
}

static void key_actions(const char *keys, float *a)
{
    int T = 1 + (int)strlen(keys);
    memset(a, 0, sizeof(float) * 3 * (size_t)T);
    for (int t = 1; t < T; t++) key_to_action(keys[t - 1], ACTION_VALUE, a + 3 * t);
}

/* The folder of broken files (and two good ones); returns the number of files written. */
static int make_broken_dataset(const char *dir)
{
    enum { H = 6, W = 8, FB = H * W * 3 };
    char src[1024], dst[1024];
    int n = 0;
    n += write_key_episode(dir, GOOD_L, "wwwaawwdd", H, W, 0) == 0;
    n += write_key_episode(dir, GOOD_R, "wwwddwwaa", H, W, 1) == 0;
    /* same frames and actions as GOOD_L under another name (the file bytes differ: episode_name) */
    n += write_key_episode(dir, "z_duplicate.h5", "wwwaawwdd", H, W, 0) == 0;
    copy_prefix(join_path(src, sizeof src, dir, GOOD_L), join_path(dst, sizeof dst, dir, "truncated.h5"), 3000);
    n++;
    FILE *fp = fopen(join_path(dst, sizeof dst, dir, "not_hdf5.h5"), "w");
    fputs("{\"this\": \"is json\"}\n", fp);
    fclose(fp);
    n++;
    n += write_raw_episode(join_path(dst, sizeof dst, dir, "no_actions.h5"), 5, -1, 5, H, W) == 0;
    n += write_raw_episode(join_path(dst, sizeof dst, dir, "length_mismatch.h5"), 5, 4, 5, H, W) == 0;
    n += write_key_episode(dir, "single_frame.h5", "", H, W, 2) == 0;

    float a[3 * 8];
    uint8_t *frames = fixture_frames(8, H, W, 3);
    key_actions("wwwwwww", a);
    a[3 * 4 + 1] = NAN;
    n += write_custom(dir, "nan_action.h5", 8, H, W, frames, a) == 0;
    key_actions("wwwwwww", a);
    a[3 * 5] = 5.0f;
    n += write_custom(dir, "out_of_range.h5", 8, H, W, frames, a) == 0;
    key_actions("wwwwwww", a);
    a[3 * 2] = 0.7f; /* a real number, but no key */
    uint8_t *f2 = fixture_frames(8, H, W, 4);
    n += write_custom(dir, "oov_action.h5", 8, H, W, f2, a) == 0;
    /* one black frame (warning) */
    key_actions("wwwwwww", a);
    uint8_t *f5 = fixture_frames(8, H, W, 5);
    memcpy(f2, f5, (size_t)8 * FB);
    free(f5);
    memset(f2 + 3 * FB, 2, FB);
    n += write_custom(dir, "one_black_frame.h5", 8, H, W, f2, a) == 0;
    /* every frame black (error) */
    uint8_t *black = calloc(8, FB);
    n += write_custom(dir, "all_black.h5", 8, H, W, black, a) == 0;
    /* frozen: every frame identical (error) */
    uint8_t *frozen = fixture_frames(8, H, W, 6);
    for (int t = 1; t < 8; t++) memcpy(frozen + (size_t)t * FB, frozen, FB);
    n += write_custom(dir, "frozen.h5", 8, H, W, frozen, a) == 0;
    /* one repeated frame (warning), and a first frame that is no episode_start (warning) */
    uint8_t *rep = fixture_frames(8, H, W, 7);
    memcpy(rep + 5 * FB, rep + 4 * FB, FB);
    a[0] = ACTION_VALUE;
    n += write_custom(dir, "repeated_frame.h5", 8, H, W, rep, a) == 0;
    free(frames), free(f2), free(black), free(frozen), free(rep);
    return n;
}

/* The problem of file (base name) with code, or NULL. */
static const CheckProblem *find_problem(const CheckReport *r, const char *file, const char *code)
{
    for (int i = 0; i < r->n_problems; i++) {
        const char *s = strrchr(r->problems[i].path, '/');
        if (strcmp(s ? s + 1 : r->problems[i].path, file) == 0 && strcmp(r->problems[i].code, code) == 0)
            return &r->problems[i];
    }
    return NULL;
}

static int problems_of(const CheckReport *r, const char *file)
{
    int n = 0;
    for (int i = 0; i < r->n_problems; i++) {
        const char *s = strrchr(r->problems[i].path, '/');
        n += strcmp(s ? s + 1 : r->problems[i].path, file) == 0;
    }
    return n;
}

static void expect_problem(const CheckReport *r, const char *file, const char *code, CheckSeverity sev, const char *words)
{
    const CheckProblem *p = find_problem(r, file, code);
    CHECK_MSG(p != NULL, "%s: no '%s' problem", file, code);
    if (!p) return;
    CHECK_MSG(p->severity == sev, "%s: %s has severity %d", file, code, (int)p->severity);
    CHECK_MSG(!words || strstr(p->reason, words), "%s: %s reason '%s' lacks '%s'", file, code, p->reason, words);
}

TEST(dataset_check_broken_folder)
{
    char dir[512];
    make_dir(dir, sizeof dir, "broken");
    int n = make_broken_dataset(dir);
    REQUIRE(n == 15);
    CheckReport r;
    REQUIRE(check_dataset(dir, NULL, &r) == 0);
    CHECK(r.n_files == 15);
    expect_problem(&r, "truncated.h5", "unreadable", CHECK_ERROR, NULL);
    expect_problem(&r, "not_hdf5.h5", "unreadable", CHECK_ERROR, "not an HDF5 file");
    expect_problem(&r, "no_actions.h5", "missing_dataset", CHECK_ERROR, "'actions' is missing");
    expect_problem(&r, "length_mismatch.h5", "length_mismatch", CHECK_ERROR, "(4, 3)");
    expect_problem(&r, "single_frame.h5", "single_frame", CHECK_ERROR, NULL);
    expect_problem(&r, "nan_action.h5", "nan_action", CHECK_ERROR, "frame 4");
    expect_problem(&r, "out_of_range.h5", "action_range", CHECK_ERROR, "frame 5");
    expect_problem(&r, "oov_action.h5", "action_vocab", CHECK_WARNING, "frame 2");
    expect_problem(&r, "one_black_frame.h5", "black_frames", CHECK_WARNING, "frame 3");
    expect_problem(&r, "all_black.h5", "black_episode", CHECK_ERROR, "all 8 frames");
    expect_problem(&r, "frozen.h5", "frozen_episode", CHECK_ERROR, "all 8 frames");
    expect_problem(&r, "repeated_frame.h5", "frozen_frames", CHECK_WARNING, "frame 5");
    expect_problem(&r, "repeated_frame.h5", "first_frame", CHECK_WARNING, "episode_start");
    expect_problem(&r, "z_duplicate.h5", "duplicate", CHECK_ERROR, GOOD_L);
    /* Exactly the problems above: the good files and the warning-only files have nothing else. */
    CHECK(problems_of(&r, GOOD_L) == 0 && problems_of(&r, GOOD_R) == 0);
    CHECK(problems_of(&r, "oov_action.h5") == 1 && problems_of(&r, "one_black_frame.h5") == 1);
    CHECK(problems_of(&r, "repeated_frame.h5") == 2 && problems_of(&r, "z_duplicate.h5") == 1);
    /* usable: the two good ones and the three warning-only ones */
    CHECK_MSG(r.n_usable == 5, "usable %d", r.n_usable);
    CHECK(r.n_warnings == 4 && r.n_errors == r.n_problems - 4);
    CHECK(check_exit_code(&r, 0) == 1 && check_exit_code(&r, 1) == 1);
    check_report_free(&r);
}

TEST(dataset_check_exit_codes)
{
    char good[512], bad[512], warn[512], empty[512], p[600];
    make_dir(good, sizeof good, "good");
    REQUIRE(write_key_episode(good, GOOD_L, "wwaa", 4, 4, 0) == 0);
    REQUIRE(write_key_episode(good, GOOD_R, "wwdd", 4, 4, 1) == 0);
    CheckReport r;
    REQUIRE(check_dataset(good, NULL, &r) == 0);
    CHECK(r.n_files == 2 && r.n_usable == 2 && r.n_problems == 0 && check_exit_code(&r, 1) == 0);
    check_report_free(&r);

    make_dir(warn, sizeof warn, "warn");
    float a[9] = {0, 0, 0, 0.3f, 0, 0, 1.15f, 0, 0};
    uint8_t *f = fixture_frames(3, 4, 4, 0);
    REQUIRE(write_custom(warn, "w.h5", 3, 4, 4, f, a) == 0);
    free(f);
    REQUIRE(check_dataset(warn, NULL, &r) == 0);
    CHECK(r.n_usable == 1 && r.n_warnings == 1 && check_exit_code(&r, 0) == 0 && check_exit_code(&r, 1) == 1);
    check_report_free(&r);

    make_dir(bad, sizeof bad, "bad");
    REQUIRE(write_key_episode(bad, "one.h5", "", 4, 4, 0) == 0);
    REQUIRE(check_dataset(bad, NULL, &r) == 0);
    CHECK(r.n_usable == 0 && check_exit_code(&r, 0) == 3);
    check_report_free(&r);

    make_dir(empty, sizeof empty, "empty");
    REQUIRE(check_dataset(empty, NULL, &r) == 0);
    CHECK(r.n_files == 0 && check_exit_code(&r, 0) == 3);
    check_report_free(&r);

    CHECK(check_dataset(join_path(p, sizeof p, empty, "nope"), NULL, &r) == MVLA_ERR_IO);
    /* One file works too. */
    REQUIRE(check_dataset(join_path(p, sizeof p, good, GOOD_L), NULL, &r) == 0);
    CHECK(r.n_files == 1 && r.n_usable == 1);
    check_report_free(&r);
}

TEST(dataset_index_and_instructions)
{
    char dir[512], map[600];
    make_dir(dir, sizeof dir, "index");
    REQUIRE(write_key_episode(dir, GOOD_L, "wwaa", 4, 4, 0) == 0);
    REQUIRE(write_key_episode(dir, GOOD_R, "wwdd", 4, 4, 1) == 0);
    REQUIRE(write_key_episode(dir, "basket_episode_20250101_120200_1box_vert_left_core_close.h5", "ww", 4, 4, 2) == 0);
    REQUIRE(write_key_episode(dir, "recording.hdf5", "w", 4, 4, 3) == 0);
    FILE *fp = fopen(join_path(map, sizeof map, dir, "notes.txt"), "w"); /* not an episode: not listed */
    fclose(fp);
    copy_prefix("tests/fixtures/" GOOD_R, join_path(map, sizeof map, dir, "zz_cut.h5"), 500);

    Dataset *ds = NULL;
    DatasetOptions opt = {0};
    REQUIRE(dataset_open(&ds, dir, &opt) == 0);
    REQUIRE(ds->count == 5);
    CHECK(dataset_usable(ds) == 4);
    CHECK(strcmp(ds->episodes[0].file, "basket_episode_20250101_120200_1box_vert_left_core_close.h5") == 0);
    int l = dataset_find(ds, GOOD_L), r = dataset_find(ds, GOOD_R), b = 0, rec = dataset_find(ds, "recording.hdf5");
    int cut = dataset_find(ds, "zz_cut.h5");
    REQUIRE(l > 0 && r > 0 && rec > 0 && cut > 0 && dataset_find(ds, "notes.txt") < 0);
    CHECK(!ds->episodes[cut].usable && ds->episodes[cut].error && strstr(ds->episodes[cut].error, "zz_cut.h5"));
    CHECK(ds->episodes[l].info.num_frames == 5 && ds->episodes[l].info.actions[3 * 3 + 1] == ACTION_VALUE);
    CHECK(strcmp(ds->episodes[l].info.name.scenario, "1box_vert_left") == 0);
    CHECK(strcmp(ds->episodes[l].instruction,
                 "Navigate around obstacles and reach the front of the beverage bottle on the left") == 0);
    CHECK(ds->episodes[l].instruction_source == INSTRUCTION_DEFAULT);
    CHECK(strcmp(ds->episodes[b].instruction, "Navigate to the gray basket on the left") == 0);
    CHECK(ds->episodes[l].hash[0] == 0);
    EpisodeReader *rd = NULL;
    REQUIRE(dataset_open_episode(ds, r, &rd) == 0);
    CHECK(episode_info(rd)->num_frames == 5);
    episode_close(rd);
    CHECK(dataset_open_episode(ds, 99, &rd) == MVLA_ERR_ARG);
    dataset_free(ds);

    /* Mapping: file stem > scenario > target_side > side > default; Korean defaults; hashes. */
    fp = fopen(join_path(map, sizeof map, test_tmpdir(), "map.json"), "w");
    fprintf(fp, "{\"1box_vert_left\": \"scenario text\", \"right\": \"side text\", \"basket_left\": \"basket text\",\n"
                " \"recording\": \"stem text\"}");
    fclose(fp);
    opt.mapping_path = map;
    opt.lang = "ko";
    opt.hash = 1;
    REQUIRE(dataset_open(&ds, dir, &opt) == 0);
    CHECK(strcmp(ds->episodes[l].instruction, "scenario text") == 0);
    CHECK(ds->episodes[l].instruction_source == INSTRUCTION_MAPPING);
    CHECK(strcmp(ds->episodes[r].instruction, "side text") == 0);
    CHECK(strcmp(ds->episodes[b].instruction, "basket text") == 0);
    CHECK(strcmp(ds->episodes[rec].instruction, "stem text") == 0);
    char want[HASH_TEXT_MAX];
    REQUIRE(hash_file(ds->episodes[r].path, want) == 0);
    CHECK(strncmp(ds->episodes[r].hash, "sha256:", 7) == 0 && strcmp(ds->episodes[r].hash, want) == 0);
    CHECK(strcmp(ds->episodes[l].hash, ds->episodes[r].hash) != 0);
    dataset_free(ds);

    opt.mapping_path = NULL;
    opt.hash = 0;
    REQUIRE(dataset_open(&ds, dir, &opt) == 0);
    CHECK(strcmp(ds->episodes[l].instruction, "가장 왼쪽 외곽으로 돌아 컵까지 가세요") == 0);
    CHECK(strcmp(ds->episodes[rec].instruction, "컵까지 가세요") == 0);
    dataset_free(ds);

    /* The override wins over everything, the file's own instruction included. */
    opt.instruction = "go";
    const char *one = "tests/fixtures/basket_episode_20250315_183000_2box_hori_right_variant_far_evening.h5";
    REQUIRE(dataset_open(&ds, one, &opt) == 0);
    CHECK(ds->count == 1 && strcmp(ds->episodes[0].instruction, "go") == 0);
    CHECK(ds->episodes[0].instruction_source == INSTRUCTION_OVERRIDE);
    dataset_free(ds);

    /* Bad mapping files and paths fail with the file named. */
    fp = fopen(map, "w");
    fprintf(fp, "{\"left\": 3}");
    fclose(fp);
    opt.instruction = NULL;
    opt.mapping_path = map;
    CHECK(dataset_open(&ds, dir, &opt) == MVLA_ERR_FORMAT && strstr(mvla_error_message(), "'left'") && !ds);
    fp = fopen(map, "w");
    fprintf(fp, "[not json");
    fclose(fp);
    CHECK(dataset_open(&ds, dir, &opt) == MVLA_ERR_FORMAT && strstr(mvla_error_message(), "map.json"));
    opt.mapping_path = NULL;
    CHECK(dataset_open(&ds, "/nonexistent/dir", &opt) == MVLA_ERR_IO);
}

TEST(dataset_instruction_resolution_order)
{
    EpisodeInfo in = {0};
    episode_parse_name("d/episode_1_2box_hori_right_core_far.h5", &in.name);
    in.path = "d/episode_1_2box_hori_right_core_far.h5";
    InstructionSource s;
    InstructionMap *m = NULL;
    char map[600];
    FILE *fp = fopen(join_path(map, sizeof map, test_tmpdir(), "m.json"), "w");
    fprintf(fp, "{\"right\": \"by side\", \"default\": \"by default key\"}");
    fclose(fp);
    REQUIRE(instruction_map_load(&m, map) == 0);
    CHECK(strcmp(instruction_resolve(&in, NULL, "en", NULL, &s),
                 "Navigate around obstacles and reach the front of the beverage bottle on the right") == 0 &&
          s == INSTRUCTION_DEFAULT);
    CHECK(strcmp(instruction_resolve(&in, m, "en", NULL, &s), "by side") == 0 && s == INSTRUCTION_MAPPING);
    in.instruction = "";
    CHECK(strcmp(instruction_resolve(&in, m, "en", NULL, &s), "by side") == 0); /* empty file text: absent */
    in.instruction = "from file";
    CHECK(strcmp(instruction_resolve(&in, m, "en", NULL, &s), "from file") == 0 && s == INSTRUCTION_FILE);
    CHECK(strcmp(instruction_resolve(&in, m, "en", "cli", &s), "cli") == 0 && s == INSTRUCTION_OVERRIDE);
    in.instruction = NULL;
    episode_parse_name("x.h5", &in.name);
    in.path = "x.h5";
    CHECK(strcmp(instruction_resolve(&in, m, "ko", NULL, &s), "by default key") == 0);
    CHECK(strcmp(instruction_resolve(&in, NULL, "ko", NULL, &s), "컵까지 가세요") == 0);
    CHECK(strcmp(instruction_source_name(INSTRUCTION_MAPPING), "mapping") == 0);
    instruction_map_free(m);
}

TEST(dataset_sha256_known_answers)
{
    uint8_t d[32];
    char hex[65];
    sha256("", 0, d);
    sha256_hex(d, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    sha256("abc", 3, d);
    sha256_hex(d, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256(m, strlen(m), d);
    sha256_hex(d, hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    /* One million 'a', fed in uneven pieces: the streaming path. */
    Sha256 s;
    sha256_init(&s);
    char buf[1100];
    memset(buf, 'a', sizeof buf);
    for (int done = 0, step = 1; done < 1000000; step = step % 997 + 7) {
        int k = done + step > 1000000 ? 1000000 - done : step;
        sha256_update(&s, buf, (size_t)k);
        done += k;
    }
    sha256_final(&s, d);
    sha256_hex(d, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    /* hash64: equal in, equal out; a one-bit change changes it; lengths matter. */
    uint8_t x[100] = {0};
    uint64_t h0 = hash64(x, 100, 1);
    CHECK(h0 == hash64(x, 100, 1) && h0 != hash64(x, 100, 2) && h0 != hash64(x, 99, 1));
    for (int i = 0; i < 100; i++) {
        x[i] ^= 4;
        CHECK(hash64(x, 100, 1) != h0);
        x[i] ^= 4;
    }
}


static json_int_t jint(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(root, a);
    if (b) v = json_object_get(v, b);
    return json_is_integer(v) ? json_integer_value(v) : -999;
}

TEST(dataset_mvla_data_info_json)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
        return;
    }
    char dir[512], cmd[1400], p[700];
    make_dir(dir, sizeof dir, "info");
    REQUIRE(write_key_episode(dir, GOOD_L, "wwwaad", 4, 6, 0) == 0);
    REQUIRE(write_key_episode(dir, GOOD_R, "wwqq ", 4, 6, 1) == 0);
    REQUIRE(write_key_episode(dir, "episode_20250101_120300_1box_vert_left_core_close.h5", "ss", 8, 10, 2) == 0);
    float a[9] = {0, 0, 0, 0.2f, 0, 0, 1.15f, 0, 0};
    uint8_t *f = fixture_frames(3, 4, 6, 3);
    REQUIRE(write_custom(dir, "odd.h5", 3, 4, 6, f, a) == 0);
    free(f);
    copy_prefix(join_path(p, sizeof p, dir, GOOD_L), join_path(cmd, sizeof cmd, dir, "zz_broken.h5"), 700);

    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' data info --json '%s'", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 0);
    json_error_t err;
    json_t *s = json_loads(out, 0, &err);
    CHECK_MSG(s, "--json does not parse: %s\n%s", err.text, out);
    free(out);
    if (s) {
        CHECK(jint(s, "files", NULL) == 5 && jint(s, "episodes", NULL) == 4);
        CHECK(json_array_size(json_object_get(s, "unreadable")) == 1);
        CHECK(jint(s, "frames", NULL) == 7 + 6 + 3 + 3);
        CHECK(jint(s, "resolutions", "6x4") == 3 && jint(s, "resolutions", "10x8") == 1);
        CHECK(jint(s, "scenarios", "1box_vert_left") == 2 && jint(s, "scenarios", "2box_hori_right") == 1);
        CHECK(jint(s, "scenarios", "unknown") == 1);
        CHECK(jint(s, "sides", "left") == 2 && jint(s, "sides", "right") == 1);
        CHECK(jint(s, "distances", "medium") == 1 && jint(s, "distances", "close") == 1);
        CHECK(jint(s, "kinds", "core") == 2 && jint(s, "kinds", "variant") == 1);
        json_t *acts = json_object_get(s, "actions");
        CHECK(jint(acts, "counted", NULL) == 6 + 5 + 2 + 2);
        CHECK(jint(acts, "keys", "w") == 3 + 2 + 1 && jint(acts, "keys", "a") == 2 && jint(acts, "keys", "d") == 1);
        CHECK(jint(acts, "keys", "q") == 2 && jint(acts, "keys", "space") == 1 && jint(acts, "keys", "s") == 2);
        CHECK(jint(acts, "unknown", NULL) == 1);
        json_t *instr = json_object_get(s, "instructions");
        CHECK(json_array_size(instr) == 3); /* left (2), right, fallback for odd.h5 */
        CHECK(jint(json_array_get(instr, 0), "episodes", NULL) == 2);
        CHECK(strstr(json_string_value(json_object_get(json_array_get(instr, 0), "text")), "on the left") != NULL);
        json_decref(s);
    }
    snprintf(cmd, sizeof cmd, "'%s' data info '%s' --lang ko --instruction 'go to the cup'", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 0);
    CHECK_MSG(strstr(out, "go to the cup") && strstr(out, "override 4") && strstr(out, "4 usable of 5 files"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data info '%s' --lang fr 2>/dev/null", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 2);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data info /nonexistent 2>/dev/null", bin);
    CHECK(test_run_capture(cmd, &out) == 1);
    free(out);
}

TEST(dataset_mvla_data_check_cli)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
        return;
    }
    char dir[512], good[512], cmd[1400];
    make_dir(dir, sizeof dir, "cli_broken");
    REQUIRE(make_broken_dataset(dir) == 15);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' data check '%s' 2>/dev/null", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 1);
    char line[1800];
    snprintf(line, sizeof line, "%s/no_actions.h5: dataset 'actions' is missing\n", dir);
    CHECK_MSG(strstr(out, line), "no line '%s' in:\n%s", line, out);
    snprintf(line, sizeof line, "%s/z_duplicate.h5: duplicate of %s/%s", dir, dir, GOOD_L);
    CHECK_MSG(strstr(out, line), "no line '%s' in:\n%s", line, out);
    snprintf(line, sizeof line, "%s/oov_action.h5: warning: 1 action outside the teleop vocabulary", dir);
    CHECK_MSG(strstr(out, line), "no line '%s' in:\n%s", line, out);
    CHECK_MSG(strstr(out, "15 files, 5 usable episodes"), "%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' --threads 1 data check --json '%s' 2>/dev/null", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 1);
    json_t *s = json_loads(out, 0, NULL);
    CHECK_MSG(s, "--json does not parse:\n%s", out);
    free(out);
    if (s) {
        CHECK(jint(s, "files", NULL) == 15 && jint(s, "usable", NULL) == 5 && jint(s, "exit_code", NULL) == 1);
        CHECK(jint(s, "warnings", NULL) == 4);
        CHECK((json_int_t)json_array_size(json_object_get(s, "problems")) == jint(s, "errors", NULL) + 4);
        json_decref(s);
    }

    make_dir(good, sizeof good, "cli_good");
    REQUIRE(write_key_episode(good, GOOD_L, "wwaa", 4, 4, 0) == 0);
    snprintf(cmd, sizeof cmd, "'%s' data check '%s'", bin, good);
    CHECK(test_run_capture(cmd, &out) == 0);
    CHECK_MSG(strstr(out, "1 file, 1 usable episode"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data check '%s/%s'", bin, good, GOOD_L);
    CHECK(test_run_capture(cmd, &out) == 0);
    free(out);
    /* --strict: a warning fails */
    float a[9] = {0, 0, 0, 0.3f, 0, 0, 1.15f, 0, 0};
    uint8_t *f = fixture_frames(3, 4, 4, 9);
    REQUIRE(write_custom(good, "warn.h5", 3, 4, 4, f, a) == 0);
    free(f);
    snprintf(cmd, sizeof cmd, "'%s' data check '%s' >/dev/null", bin, good);
    CHECK(test_run_capture(cmd, &out) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data check --strict '%s' >/dev/null", bin, good);
    CHECK(test_run_capture(cmd, &out) == 1);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data check '%s/single_frame.h5' >/dev/null", bin, dir);
    CHECK(test_run_capture(cmd, &out) == 3);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data check /nonexistent/dir 2>/dev/null", bin);
    CHECK(test_run_capture(cmd, &out) == 2);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data check --bogus '%s' 2>/dev/null", bin, good);
    CHECK(test_run_capture(cmd, &out) == 2);
    free(out);
}

TEST(dataset_survives_libhdf5_crash)
{
    /* This file crashes libhdf5 1.10.8 itself (see tests/fixtures/damaged/README.md). Whatever the
     * libhdf5 version does with it, the checker, the isolated index and the probe must report it
     * as unusable and go on; without isolation this test process would die here. */
    const char *bad = "tests/fixtures/damaged/global_heap_crashes_libhdf5.h5";
    CHECK(episode_probe(bad, 1) != 0 && strstr(mvla_error_message(), bad));
    CheckReport r;
    REQUIRE(check_dataset(bad, NULL, &r) == 0);
    CHECK(r.n_files == 1 && r.n_usable == 0 && r.n_problems >= 1);
    if (r.n_problems) CHECK_MSG(strcmp(r.problems[0].code, "unreadable") == 0, "code %s: %s", r.problems[0].code, r.problems[0].reason);
    check_report_free(&r);
    Dataset *ds = NULL;
    DatasetOptions opt = {0};
    opt.isolate = 1;
    REQUIRE(dataset_open(&ds, bad, &opt) == 0);
    CHECK(ds->count == 1 && !ds->episodes[0].usable && ds->episodes[0].error);
    dataset_free(ds);
    /* A good file passes the probe, frames included. */
    CHECK(episode_probe("tests/fixtures/episode_20250101_120000_1box_vert_left_core_medium.h5", 1) == 0);
}
