/* Episode files: the h5py-written fixtures read exactly (values recomputed from
 * tests/fixtures/make_h5py_fixture.py's formulas), one-frame reads, writer -> reader and
 * writer -> h5py round trips, atomic writes, malformed files (an error naming the file and the
 * dataset, never a crash), file-name parsing and the default instructions. */
#include "base/error.h"
#include "data/actions.h"
#include "episode_testutil.h"
#include "io/episode.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FIX_CORE "tests/fixtures/episode_20250101_120000_1box_vert_left_core_medium.h5"
#define FIX_BASKET "tests/fixtures/basket_episode_20250315_183000_2box_hori_right_variant_far_evening.h5"
#define FIX_LEGACY "tests/fixtures/episode_20240801_090000_1box_hori_right_core_close.h5"

/* Frame t of a fixture equals the formula at every byte. */
static int frame_matches(EpisodeReader *r, int t, int seed)
{
    const EpisodeInfo *in = episode_info(r);
    size_t n = (size_t)in->height * in->width * 3;
    uint8_t *buf = malloc(n);
    int ok = episode_read_frame(r, t, buf) == 0;
    size_t i = 0;
    for (int y = 0; ok && y < in->height; y++)
        for (int x = 0; x < in->width; x++)
            for (int c = 0; c < 3; c++, i++) ok &= buf[i] == (uint8_t)(fixture_pixel(t, y, x, c) + seed * 13);
    free(buf);
    return ok;
}

/* The fixture's actions: zero, then the keys at value v. */
static int actions_match(const EpisodeInfo *in, const char *keys, float v)
{
    float want[3];
    if (in->num_frames != 1 + (int)strlen(keys)) return 0;
    for (int t = 0; t < in->num_frames; t++) {
        if (t == 0) want[0] = want[1] = want[2] = 0;
        else key_to_action(keys[t - 1], v, want);
        for (int k = 0; k < 3; k++)
            if (fabsf(in->actions[3 * t + k] - want[k]) > 1e-6f) return 0;
    }
    return 1;
}

static int events_match(const EpisodeInfo *in, const char *keys)
{
    for (int t = 0; t < in->num_frames; t++) {
        const char *want = t == 0 ? "episode_start" : keys[t - 1] == ' ' ? "stop_action" : "start_action";
        if (!in->events[t] || strcmp(in->events[t], want) != 0) return 0;
    }
    return 1;
}

TEST(episode_reads_h5py_fixture)
{
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, FIX_CORE) == 0);
    const EpisodeInfo *in = episode_info(r);
    CHECK(in->num_frames == 5 && in->height == 24 && in->width == 32);
    CHECK(strcmp(in->episode_name, "episode_20250101_120000_1box_vert_left_core_medium") == 0);
    CHECK(actions_match(in, "wwa ", 1.15f));
    CHECK(events_match(in, "wwa "));
    CHECK(in->instruction == NULL);
    CHECK_NEAR(in->total_duration, 0.4 * 4 + 0.125, 1e-12);
    CHECK(in->num_frames_attr == 5 && in->action_chunk_size == 8);
    CHECK(in->layout_attr && strcmp(in->layout_attr, "vert") == 0);
    CHECK(in->time_period && strcmp(in->time_period, "morning") == 0);
    CHECK(in->collection_datetime && strcmp(in->collection_datetime, "2025-01-01T12:00:00") == 0);
    CHECK(in->collection_hour == 12 && in->collection_minute == 0);
    CHECK(strcmp(in->name.scenario, "1box_vert_left") == 0 && strcmp(in->name.target, "cup") == 0);
    for (int t = 0; t < in->num_frames; t++) CHECK_MSG(frame_matches(r, t, 0), "frame %d differs", t);
    episode_close(r);
}

TEST(episode_reads_h5py_fixture_multi_frame_chunks)
{
    /* h5py chunked this one (9, 9, 32, 3): a frame spans chunks and a chunk spans frames. */
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, FIX_BASKET) == 0);
    const EpisodeInfo *in = episode_info(r);
    CHECK(in->num_frames == 18 && in->height == 18 && in->width == 32);
    CHECK(actions_match(in, "wwwddwwqerzct www", 1.15f));
    CHECK(events_match(in, "wwwddwwqerzct www"));
    CHECK(in->instruction && strcmp(in->instruction, "Navigate to the gray basket on the right") == 0);
    CHECK(in->collection_hour == 18 && in->collection_minute == 30);
    CHECK(strcmp(in->name.target, "basket") == 0 && strcmp(in->name.lighting, "evening") == 0);
    int order[] = {17, 0, 9, 8, 3, 16, 1};
    for (int i = 0; i < 7; i++) CHECK_MSG(frame_matches(r, order[i], 0), "frame %d differs", order[i]);
    uint8_t one[18 * 32 * 3];
    CHECK(episode_read_frame(r, 18, one) == MVLA_ERR_ARG && strstr(mvla_error_message(), "frame 18"));
    CHECK(episode_read_frame(r, -1, one) == MVLA_ERR_ARG);
    episode_close(r);
}

TEST(episode_reads_fixed_length_strings_and_float64)
{
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, FIX_LEGACY) == 0);
    const EpisodeInfo *in = episode_info(r);
    CHECK(in->num_frames == 4 && in->height == 8 && in->width == 8);
    CHECK(strcmp(in->episode_name, "legacy_episode") == 0);
    CHECK(actions_match(in, "wwd", 0.5f));
    CHECK(events_match(in, "wwd"));
    CHECK(in->layout_attr && strcmp(in->layout_attr, "hori") == 0);
    CHECK(in->time_period == NULL && in->collection_datetime == NULL && in->instruction == NULL);
    CHECK(in->action_chunk_size == 0 && in->collection_hour == -1 && in->num_frames_attr == 4);
    CHECK_NEAR(in->total_duration, 1.5, 0);
    for (int t = 0; t < 4; t++) CHECK(frame_matches(r, t, 0));
    episode_close(r);
}

TEST(episode_reads_any_chunking)
{
    /* h5py's own chunk shapes (a chunk spanning frames and holding one channel, partial edge
     * chunks), unfiltered and shuffled chunks (read through H5Dread), and a chunk row that was
     * never written (fill values): every frame must equal what was written, read in any order. */
    struct {
        unsigned long long chunk[4];
        int deflate, shuffle, skip;
    } cases[] = {
        {{3, 5, 7, 1}, 1, 0, -1}, {{2, 4, 10, 3}, 1, 0, -1}, {{1, 11, 13, 2}, 1, 0, -1}, {{4, 3, 3, 1}, 0, 0, -1},
        {{3, 5, 7, 1}, 1, 1, -1}, {{2, 11, 13, 3}, 1, 0, 1}, {{7, 11, 13, 3}, 1, 0, -1},
    };
    char path[512];
    join_path(path, sizeof path, test_tmpdir(), "chunked.h5");
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        int T = 7, H = 11, W = 13;
        int wrote = write_chunked_episode(path, T, H, W, cases[k].chunk, cases[k].deflate, cases[k].shuffle, cases[k].skip);
        CHECK_MSG(wrote == 0, "case %d: not written", k);
        if (wrote) continue;
        EpisodeReader *r = NULL;
        REQUIRE(episode_open(&r, path) == 0);
        int order[] = {0, 1, 2, 3, 4, 5, 6, 6, 2, 0, 5};
        uint8_t frame[11 * 13 * 3];
        for (int i = 0; i < 11; i++) {
            int t = order[i];
            if (cases[k].skip >= 0 && t / (int)cases[k].chunk[0] == cases[k].skip) {
                CHECK(episode_read_frame(r, t, frame) == 0);
                int zero = 1;
                for (int j = 0; j < (int)sizeof frame; j++) zero &= frame[j] == 0;
                CHECK_MSG(zero, "case %d: unwritten frame %d is not the fill value", k, t);
            } else {
                CHECK_MSG(frame_matches(r, t, 0), "case %d: frame %d differs", k, t);
            }
        }
        episode_close(r);
    }
}

static void fill_roundtrip_info(EpisodeInfo *in, float *actions, char **events)
{
    memset(in, 0, sizeof *in);
    in->num_frames = 6;
    in->height = 10;
    in->width = 14;
    for (int t = 0; t < 6; t++) {
        actions[3 * t] = 0.25f * (float)t;
        actions[3 * t + 1] = -0.5f * (float)t;
        actions[3 * t + 2] = t % 2 ? 1.15f : 0.0f;
        events[t] = t ? "start_action" : "episode_start";
    }
    in->actions = actions;
    in->events = events;
    in->episode_name = "roundtrip";
    in->instruction = "가장 왼쪽 외곽으로 돌아 컵까지 가세요";
    in->total_duration = 2.125;
    in->action_chunk_size = 8;
    in->layout_attr = "vert";
    in->time_period = "night";
    in->collection_datetime = "2025-02-03T04:05:06";
    in->collection_hour = 4;
    in->collection_minute = 5;
}

TEST(episode_writer_reader_roundtrip)
{
    float actions[18];
    char *events[6];
    EpisodeInfo w;
    fill_roundtrip_info(&w, actions, events);
    uint8_t *frames = fixture_frames(6, 10, 14, 0);
    char path[512];
    join_path(path, sizeof path, test_tmpdir(), "episode_20250203_040506_2box_vert_left_variant_close_night.h5");
    REQUIRE(episode_write(path, &w, frames) == 0);
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, path) == 0);
    const EpisodeInfo *in = episode_info(r);
    CHECK(in->num_frames == 6 && in->height == 10 && in->width == 14);
    CHECK(memcmp(in->actions, actions, sizeof actions) == 0);
    for (int t = 0; t < 6; t++) CHECK(strcmp(in->events[t], events[t]) == 0);
    CHECK(strcmp(in->episode_name, "roundtrip") == 0);
    CHECK(in->instruction && strcmp(in->instruction, w.instruction) == 0);
    CHECK(in->total_duration == 2.125 && in->action_chunk_size == 8 && in->num_frames_attr == 6);
    CHECK(strcmp(in->layout_attr, "vert") == 0 && strcmp(in->time_period, "night") == 0);
    CHECK(strcmp(in->collection_datetime, "2025-02-03T04:05:06") == 0);
    CHECK(in->collection_hour == 4 && in->collection_minute == 5);
    CHECK(strcmp(in->name.scenario, "2box_vert_left") == 0 && strcmp(in->name.lighting, "night") == 0);
    for (int t = 5; t >= 0; t--) CHECK(frame_matches(r, t, 0));
    episode_close(r);
    free(frames);
}

TEST(episode_writer_defaults_and_empty_episode)
{
    /* NULL events: the collector's events; NULL strings and negative numbers: not written. */
    float actions[9] = {0, 0, 0, 1.15f, 0, 0, 0, 0, 0};
    EpisodeInfo w = {0};
    w.num_frames = 3, w.height = 2, w.width = 3, w.actions = actions;
    w.total_duration = -1, w.collection_hour = w.collection_minute = -1;
    uint8_t *frames = fixture_frames(3, 2, 3, 1);
    char path[512];
    join_path(path, sizeof path, test_tmpdir(), "plain.h5");
    REQUIRE(episode_write(path, &w, frames) == 0);
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, path) == 0);
    const EpisodeInfo *in = episode_info(r);
    CHECK(strcmp(in->episode_name, "plain") == 0);
    CHECK(strcmp(in->events[0], "episode_start") == 0 && strcmp(in->events[1], "start_action") == 0 &&
          strcmp(in->events[2], "stop_action") == 0);
    CHECK(in->total_duration == 0 && in->action_chunk_size == 0 && in->collection_hour == -1);
    CHECK(in->layout_attr == NULL && in->time_period == NULL && in->instruction == NULL);
    CHECK(frame_matches(r, 2, 1));
    episode_close(r);

    EpisodeInfo e = {0};
    e.height = 4, e.width = 4;
    join_path(path, sizeof path, test_tmpdir(), "empty.h5");
    REQUIRE(episode_write(path, &e, NULL) == 0);
    REQUIRE(episode_open(&r, path) == 0);
    CHECK(episode_info(r)->num_frames == 0 && episode_info(r)->height == 4);
    episode_close(r);
    free(frames);
}

TEST(episode_writer_h5py_reads_back)
{
    struct stat st;
    if (stat("/usr/bin/python3", &st) != 0) {
        fprintf(stderr, "(skipped: /usr/bin/python3 missing) ");
        return;
    }
    float actions[18];
    char *events[6];
    EpisodeInfo w;
    fill_roundtrip_info(&w, actions, events);
    uint8_t *frames = fixture_frames(6, 10, 14, 0);
    char path[512], cmd[1200];
    join_path(path, sizeof path, test_tmpdir(), "for_h5py.h5");
    REQUIRE(episode_write(path, &w, frames) == 0);
    free(frames);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/h5py_roundtrip.py '%s' 1>&2", path);
    int status = system(cmd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 77) {
        fprintf(stderr, "(skipped: h5py missing) ");
        return;
    }
    CHECK_MSG(code == 0, "tests/h5py_roundtrip.py exited %d", code);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

TEST(episode_writer_is_atomic)
{
    char dir[512], path[600];
    join_path(dir, sizeof dir, test_tmpdir(), "atomic");
    mkdir(dir, 0755);
    REQUIRE(write_key_episode(dir, "keep.h5", "ww", 4, 4, 0) == 0);
    /* A failing write (instruction longer than S256) leaves the old file and no temp file. */
    char longtext[300];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = 0;
    float actions[3] = {0};
    uint8_t frame[4 * 4 * 3] = {0};
    EpisodeInfo w = {0};
    w.num_frames = 1, w.height = 4, w.width = 4, w.actions = actions, w.instruction = longtext;
    join_path(path, sizeof path, dir, "keep.h5");
    CHECK(episode_write(path, &w, frame) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "S256") != NULL);
    CHECK(count_entries(dir) == 1);
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, path) == 0);
    CHECK(episode_info(r)->num_frames == 3 && frame_matches(r, 1, 0));
    episode_close(r);
    /* Bad arguments. */
    w.instruction = NULL;
    w.height = 0;
    CHECK(episode_write(path, &w, frame) == MVLA_ERR_ARG);
    w.height = 4;
    CHECK(episode_write(path, &w, NULL) == MVLA_ERR_ARG);
    join_path(path, sizeof path, dir, "no/such/dir.h5");
    CHECK(episode_write(path, &w, frame) == MVLA_ERR_IO);
}

/* episode_open fails with code and a message containing every one of the words. */
static void expect_open_error(const char *path, int code, const char *w1, const char *w2)
{
    EpisodeReader *r = (EpisodeReader *)1;
    int rc = episode_open(&r, path);
    const char *m = mvla_error_message();
    CHECK_MSG(rc == code && r == NULL, "%s: rc %d (wanted %d): %s", path, rc, code, m);
    CHECK_MSG(strstr(m, path) && (!w1 || strstr(m, w1)) && (!w2 || strstr(m, w2)), "%s: message '%s' lacks '%s' / '%s'",
              path, m, w1 ? w1 : "", w2 ? w2 : "");
}

TEST(episode_open_malformed_files)
{
    const char *dir = test_tmpdir();
    char p[512];
    expect_open_error(join_path(p, sizeof p, dir, "missing.h5"), MVLA_ERR_IO, "cannot open", NULL);
    copy_prefix(FIX_CORE, join_path(p, sizeof p, dir, "empty.h5"), 0);
    expect_open_error(p, MVLA_ERR_FORMAT, "not an HDF5 file", "empty");
    FILE *fp = fopen(join_path(p, sizeof p, dir, "text.h5"), "w");
    fputs("this is not HDF5\n", fp);
    fclose(fp);
    expect_open_error(p, MVLA_ERR_FORMAT, "not an HDF5 file", NULL);
    for (long cut = 100; cut < 17000; cut += 4000) {
        copy_prefix(FIX_CORE, join_path(p, sizeof p, dir, "truncated.h5"), cut);
        EpisodeReader *r = NULL;
        CHECK_MSG(episode_open(&r, p) != 0, "cut at %ld opened", cut);
        CHECK(strstr(mvla_error_message(), p) != NULL);
        episode_close(r);
    }
    write_raw_episode(join_path(p, sizeof p, dir, "no_actions.h5"), 5, -1, 5, 4, 4);
    expect_open_error(p, MVLA_ERR_FORMAT, "dataset 'actions' is missing", NULL);
    write_raw_episode(join_path(p, sizeof p, dir, "no_images.h5"), -1, 5, 5, 4, 4);
    expect_open_error(p, MVLA_ERR_FORMAT, "dataset 'images' is missing", NULL);
    write_raw_episode(join_path(p, sizeof p, dir, "short_actions.h5"), 5, 4, 5, 4, 4);
    expect_open_error(p, MVLA_ERR_FORMAT, "'actions'", "(5, 3) to match images");
    write_raw_episode(join_path(p, sizeof p, dir, "short_events.h5"), 5, 5, 3, 4, 4);
    expect_open_error(p, MVLA_ERR_FORMAT, "'action_event_types'", "(5,) to match images");
    write_raw_episode(join_path(p, sizeof p, dir, "no_events.h5"), 2, 2, -1, 4, 4);
    EpisodeReader *r = NULL;
    REQUIRE(episode_open(&r, p) == 0);
    CHECK(episode_info(r)->events[0] == NULL && episode_info(r)->events[1] == NULL);
    episode_close(r);
}

TEST(episode_parse_name_cases)
{
    EpisodeName n;
    episode_parse_name("/data/episode_20250101_120000_1box_vert_left_core_medium.h5", &n);
    CHECK(strcmp(n.target, "cup") == 0 && n.boxes == 1 && strcmp(n.layout, "vert") == 0);
    CHECK(strcmp(n.side, "left") == 0 && strcmp(n.kind, "core") == 0 && strcmp(n.distance, "medium") == 0);
    CHECK(n.lighting[0] == 0 && strcmp(n.scenario, "1box_vert_left") == 0);
    episode_parse_name("basket_episode_20250315_183000_2box_hori_right_variant_far_evening.h5", &n);
    CHECK(strcmp(n.target, "basket") == 0 && strcmp(n.scenario, "2box_hori_right") == 0);
    CHECK(strcmp(n.kind, "variant") == 0 && strcmp(n.distance, "far") == 0 && strcmp(n.lighting, "evening") == 0);
    episode_parse_name("x/gray_basket_episode_1_2box_vert_right.hdf5", &n);
    CHECK(strcmp(n.target, "gray_basket") == 0 && strcmp(n.scenario, "2box_vert_right") == 0 && n.kind[0] == 0);
    episode_parse_name("episode_20250101_120000_vert_left.h5", &n); /* no box count: no scenario */
    CHECK(n.boxes == 0 && strcmp(n.side, "left") == 0 && n.scenario[0] == 0);
    episode_parse_name("recording.h5", &n);
    CHECK(n.target[0] == 0 && n.side[0] == 0 && n.scenario[0] == 0 && n.boxes == 0);
    episode_parse_name("", &n);
    CHECK(n.scenario[0] == 0);
    /* Very long names are cut, never overflow. */
    char longname[700];
    memset(longname, 'q', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    memcpy(longname, "episode_", 8);
    episode_parse_name(longname, &n);
    CHECK(strcmp(n.target, "cup") == 0);
    memcpy(longname, "qqqqqqqq", 8);
    memcpy(longname + 100, "_episode_", 9);
    episode_parse_name(longname, &n);
    CHECK(strlen(n.target) == sizeof n.target - 1);
}

TEST(episode_default_instructions)
{
    CHECK(strcmp(episode_default_instruction("left", "ko"), "가장 왼쪽 외곽으로 돌아 컵까지 가세요") == 0);
    CHECK(strcmp(episode_default_instruction("right", "ko"), "가장 오른쪽 외곽으로 돌아 컵까지 가세요") == 0);
    CHECK(strcmp(episode_default_instruction("", "ko"), "컵까지 가세요") == 0);
    CHECK(strcmp(episode_default_instruction("left", "en"),
                 "Navigate around obstacles and reach the front of the beverage bottle on the left") == 0);
    CHECK(strcmp(episode_default_instruction("right", NULL),
                 "Navigate around obstacles and reach the front of the beverage bottle on the right") == 0);
    CHECK(strcmp(episode_default_instruction_for("basket", "left", "en"), "Navigate to the gray basket on the left") == 0);
    CHECK(strcmp(episode_default_instruction_for("basket", "right", "en"), "Navigate to the gray basket on the right") == 0);
}

TEST(episode_action_vocabulary)
{
    float a[3];
    for (int i = 0; i < ACTION_NUM_KEYS; i++) {
        char k = ACTION_KEYS[i];
        CHECK(action_key_index(k) == i);
        CHECK(key_to_action(k, ACTION_VALUE, a) == 0 && action_to_key(a, ACTION_TOL) == k);
        CHECK(key_to_action(k, ACTION_VALUE_LEGACY, a) == 0 && action_to_key(a, ACTION_TOL) == k);
        CHECK(action_direction_key(a, 0.15f) == k);
        CHECK(key_mirror(key_mirror(k)) == k);
        float m[3];
        key_to_action(k, 1, a);
        key_to_action(key_mirror(k), 1, m);
        action_mirror(a);
        CHECK(a[0] == m[0] && a[1] == m[1] && a[2] == m[2]);
    }
    CHECK(key_to_action('W', 1.15f, a) == 0 && a[0] == 1.15f && a[1] == 0 && a[2] == 0);
    CHECK(key_to_action('a', 1.15f, a) == 0 && a[1] == 1.15f);
    CHECK(key_to_action('q', 1.15f, a) == 0 && a[0] == 1.15f && a[1] == 1.15f);
    CHECK(key_to_action('t', 1.15f, a) == 0 && a[2] == -1.15f);
    CHECK(key_to_action('x', 1.15f, a) == -1 && a[0] == 0 && action_key_index('x') == -1 && action_key_index(0) == -1);
    CHECK(strcmp(action_key_name(' '), "space") == 0 && strcmp(action_key_name('x'), "?") == 0);
    CHECK(key_mirror('a') == 'd' && key_mirror('q') == 'e' && key_mirror('z') == 'c' && key_mirror('r') == 't');
    float odd[3] = {1.15f, 0, 1.15f}, near[3] = {1.17f, -0.02f, 0.01f}, off[3] = {0.8f, 0, 0}, nan[3] = {NAN, 0, 0};
    CHECK(action_to_key(odd, ACTION_TOL) == 0 && action_direction_key(odd, 0.15f) == 0);
    CHECK(action_to_key(near, ACTION_TOL) == 'w' && action_to_key(near, 0.01f) == 0);
    CHECK(action_to_key(off, ACTION_TOL) == 0 && action_direction_key(off, 0.15f) == 'w');
    CHECK(action_to_key(nan, ACTION_TOL) == 0 && action_sign(NAN, 0.1f) == 0);
    /* the nearest key of a continuous action (int8 vs fp32 agreement of continuous heads) */
    for (int i = 0; i < ACTION_NUM_KEYS; i++) {
        CHECK(key_to_action(ACTION_KEYS[i], ACTION_VALUE, a) == 0 && action_nearest_key(a, ACTION_VALUE) == ACTION_KEYS[i]);
    }
    float slide[3] = {0.5f, 0.7f, 0}, small[3] = {0.3f, 0.2f, 0};
    CHECK(action_nearest_key(off, ACTION_VALUE) == 'w' && action_nearest_key(slide, ACTION_VALUE) == 'a');
    CHECK(action_nearest_key(small, ACTION_VALUE) == ' ' && action_nearest_key(small, 0.5f) == 'w');
}
