/* Preprocessing (channel order, crop policies) and the frame cache: round trip against decoding and
 * resizing directly, byte-identical rebuilds, rebuild on source / preprocessing / instruction
 * change, malformed caches refused, atomic writes. */
#include "base/error.h"
#include "base/file.h"
#include "base/threads.h"
#include "data/cache.h"
#include "data/preprocess.h"
#include "data/preview.h"
#include "data_testutil.h"
#include "io/episode.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* ---- preprocessing ---- */

TEST(preprocess_converts_bgr_to_rgb)
{
    uint8_t src[20 * 10 * 3], dst[8 * 4 * 3];
    for (int i = 0; i < 20 * 10; i++) src[3 * i] = 10, src[3 * i + 1] = 20, src[3 * i + 2] = 30; /* B, G, R */
    Preprocess p = {8, 4, CROP_STRETCH, FILTER_AREA};
    for (int f = 0; f < 2; f++) {
        p.filter = (ResizeFilter)f;
        REQUIRE(preprocess_frame(&p, src, 20, 10, dst) == 0);
        int ok = 1;
        for (int i = 0; i < 8 * 4; i++) ok &= dst[3 * i] == 30 && dst[3 * i + 1] == 20 && dst[3 * i + 2] == 10;
        CHECK_MSG(ok, "filter %s: a constant BGR (10,20,30) image did not become RGB (30,20,10)", filter_name(p.filter));
    }
}

/* A 30 x 10 image whose left, middle and right thirds are red, green and blue (BGR order). */
static void thirds(uint8_t *img)
{
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 30; x++) {
            uint8_t *p = img + (y * 30 + x) * 3;
            p[0] = p[1] = p[2] = 0;
            if (x < 10) p[2] = 255;      /* red */
            else if (x < 20) p[1] = 255; /* green */
            else p[0] = 255;             /* blue */
        }
}

TEST(preprocess_crop_policies)
{
    uint8_t src[30 * 10 * 3], dst[10 * 10 * 3];
    thirds(src);
    /* centre crop to a square keeps only the green middle third */
    Preprocess p = {10, 10, CROP_CENTER, FILTER_AREA};
    REQUIRE(preprocess_frame(&p, src, 30, 10, dst) == 0);
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= dst[3 * i] == 0 && dst[3 * i + 1] == 255 && dst[3 * i + 2] == 0;
    CHECK_MSG(ok, "center_crop of a 3:1 image to 1:1 is not the middle third");
    /* pad: the whole image as 10 x 3 in rows 3..5, black above and below */
    p.crop = CROP_PAD;
    REQUIRE(preprocess_frame(&p, src, 30, 10, dst) == 0);
    int black = 1, content = 1;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++) {
            const uint8_t *q = dst + (y * 10 + x) * 3;
            if (y < 3 || y >= 6) black &= q[0] == 0 && q[1] == 0 && q[2] == 0;
            else if (x == 0) content &= q[0] > 200 && q[2] < 50;      /* red at the left */
            else if (x == 9) content &= q[2] > 200 && q[0] < 50;      /* blue at the right */
        }
    CHECK_MSG(black, "pad: rows outside the image are not black");
    CHECK_MSG(content, "pad: the image is not centred with its left and right edges");
    /* stretch: all three colours, squeezed */
    p.crop = CROP_STRETCH;
    REQUIRE(preprocess_frame(&p, src, 30, 10, dst) == 0);
    CHECK(dst[0] > 200 && dst[(5 * 10 + 5) * 3 + 1] > 200 && dst[(5 * 10 + 9) * 3 + 2] > 200);
    /* area and bicubic differ on a textured image */
    uint8_t *tex = dt_image(64, 36, 5), a[16 * 9 * 3], b[16 * 9 * 3];
    Preprocess pa = {16, 9, CROP_STRETCH, FILTER_AREA}, pb = {16, 9, CROP_STRETCH, FILTER_BICUBIC};
    REQUIRE(preprocess_frame(&pa, tex, 64, 36, a) == 0);
    REQUIRE(preprocess_frame(&pb, tex, 64, 36, b) == 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    free(tex);
}

TEST(preprocess_parses_names_and_sizes)
{
    int w, h;
    CHECK(preprocess_parse_size("128x72", &w, &h) == 0 && w == 128 && h == 72);
    CHECK(preprocess_parse_size("128", &w, &h) == MVLA_ERR_ARG);
    CHECK(preprocess_parse_size("0x72", &w, &h) == MVLA_ERR_ARG);
    CHECK(preprocess_parse_size("128x72px", &w, &h) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "WxH") != NULL);
    CropPolicy c;
    ResizeFilter f;
    CHECK(crop_parse("center_crop", &c) == 0 && c == CROP_CENTER);
    CHECK(crop_parse("centre", &c) == MVLA_ERR_ARG);
    CHECK(filter_parse("bicubic", &f) == 0 && f == FILTER_BICUBIC);
    CHECK(filter_parse("nearest", &f) == MVLA_ERR_ARG);
    Preprocess p;
    preprocess_default(&p);
    CHECK(p.width * 9 == p.height * 16); /* 16:9 like the camera */
}

/* ---- the cache ---- */

enum { SW = 48, SH = 27 };
static const char *names[] = {
    "episode_20250101_120000_1box_vert_left_core_medium.h5",
    "episode_20250101_120500_2box_hori_right_variant_far.h5",
    "basket_episode_20250102_090000_1box_hori_left_core_close.h5",
};
static const int lengths[] = {5, 7, 4};

/* Writes the three test episodes into dir (the second with its own instruction). */
static int write_set(const char *dir, uint64_t seed)
{
    for (int i = 0; i < 3; i++)
        if (dt_write_episode(dir, names[i], lengths[i], SW, SH, seed + (uint64_t)i, i == 1 ? "Go right around the boxes" : NULL))
            return -1;
    return 0;
}

static void sources(CacheSource *s)
{
    for (int i = 0; i < 3; i++) s[i] = (CacheSource){names[2 - i], NULL}; /* any order: the cache sorts */
}

static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

TEST(cache_round_trip_matches_direct_decode_and_resize)
{
    char dir[512], path[600], ep_path[700];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 1) == 0);
    CacheSource src[3];
    sources(src);
    Preprocess p = {16, 9, CROP_STRETCH, FILTER_AREA};
    dt_path(path, sizeof path, test_tmpdir(), "frames.cache");
    REQUIRE(cache_build(path, dir, src, 3, &p, NULL) == 0);
    CHECK(count_tmp(test_tmpdir()) == 0);
    FrameCache *c = NULL;
    REQUIRE(cache_open(&c, path) == 0);
    CHECK(cache_num_episodes(c) == 3);
    CHECK(cache_total_frames(c) == 5 + 7 + 4);
    CHECK(cache_frame_bytes(c) == 16 * 9 * 3);
    CHECK(cache_preprocess(c)->width == 16 && cache_preprocess(c)->height == 9);
    uint8_t *bgr = malloc(SW * SH * 3), rgb[16 * 9 * 3];
    for (int k = 0; k < 3; k++) {
        int i = cache_find(c, names[k]);
        REQUIRE(i >= 0);
        const CacheEpisode *e = cache_episode(c, i);
        CHECK(e->num_frames == lengths[k]);
        CHECK(strncmp(e->hash, "sha256:", 7) == 0);
        EpisodeReader *r = NULL;
        REQUIRE(episode_open(&r, dt_path(ep_path, sizeof ep_path, dir, names[k])) == 0);
        const EpisodeInfo *in = episode_info(r);
        CHECK(memcmp(e->actions, in->actions, sizeof(float) * 3 * in->num_frames) == 0);
        for (int t = 0; t < in->num_frames; t++) {
            CHECK(strcmp(e->events[t], in->events ? in->events[t] : "") == 0);
            REQUIRE(episode_read_frame(r, t, bgr) == 0);
            REQUIRE(preprocess_frame(&p, bgr, SW, SH, rgb) == 0);
            CHECK_MSG(memcmp(cache_frame(c, i, t), rgb, sizeof rgb) == 0, "%s frame %d differs from decode + resize", names[k], t);
        }
        CHECK(strcmp(e->scenario, in->name.scenario) == 0 && strcmp(e->side, in->name.side) == 0);
        CHECK(strcmp(e->target, in->name.target) == 0);
        episode_close(r);
    }
    /* instructions: the file's own, else the built-in default for the side (English) */
    CHECK(strcmp(cache_episode(c, cache_find(c, names[1]))->instruction, "Go right around the boxes") == 0);
    CHECK(strcmp(cache_episode(c, cache_find(c, names[0]))->instruction, episode_default_instruction_for("cup", "left", "en")) == 0);
    CHECK(strcmp(cache_episode(c, cache_find(c, names[2]))->instruction, episode_default_instruction_for("basket", "left", "en")) == 0);
    CHECK(strcmp(cache_episode(c, cache_find(c, names[0]))->scenario, "1box_vert_left") == 0);
    CHECK(cache_find(c, "missing.h5") == -1);
    CHECK(cache_frame(c, 0, 99) == NULL);
    free(bgr);
    cache_close(c);
}

TEST(cache_is_byte_identical_across_builds_and_threads)
{
    char dir[512], a[600], b[600];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 2) == 0);
    CacheSource src[3];
    sources(src);
    Preprocess p = {24, 14, CROP_CENTER, FILTER_BICUBIC};
    dt_path(a, sizeof a, test_tmpdir(), "a.cache");
    dt_path(b, sizeof b, test_tmpdir(), "b.cache");
    int threads = mvla_get_threads();
    mvla_set_threads(1);
    int rc = cache_build(a, dir, src, 3, &p, NULL);
    mvla_set_threads(threads > 1 ? threads : 2);
    REQUIRE(rc == 0);
    REQUIRE(cache_build(b, dir, src, 3, &p, NULL) == 0);
    mvla_set_threads(threads);
    CHECK_MSG(dt_files_equal(a, b), "two builds of the same cache differ");
}

TEST(cache_rebuilds_when_a_source_or_the_preprocessing_changes)
{
    char dir[512], path[600];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 3) == 0);
    CacheSource src[3];
    sources(src);
    Preprocess p = {16, 9, CROP_STRETCH, FILTER_AREA};
    dt_path(path, sizeof path, test_tmpdir(), "frames.cache");
    FrameCache *c = NULL;
    int rebuilt = -1;
    REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &p, NULL, &rebuilt) == 0);
    CHECK(rebuilt == 1);
    uint8_t before[16 * 9 * 3];
    int i0 = cache_find(c, names[0]);
    memcpy(before, cache_frame(c, i0, 2), sizeof before);
    cache_close(c);
    REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &p, NULL, &rebuilt) == 0);
    CHECK_MSG(rebuilt == 0, "an up-to-date cache was rebuilt");
    cache_close(c);

    /* a source file changes: same name, other pixels */
    REQUIRE(dt_write_episode(dir, names[0], lengths[0], SW, SH, 99, NULL) == 0);
    REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &p, NULL, &rebuilt) == 0);
    CHECK_MSG(rebuilt == 1, "a changed source did not rebuild the cache");
    CHECK(memcmp(before, cache_frame(c, cache_find(c, names[0]), 2), sizeof before) != 0);
    cache_close(c);

    /* preprocessing changes: size, crop, filter */
    Preprocess q[3] = {{20, 9, CROP_STRETCH, FILTER_AREA}, {16, 9, CROP_PAD, FILTER_AREA}, {16, 9, CROP_STRETCH, FILTER_BICUBIC}};
    for (int k = 0; k < 3; k++) {
        REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &q[k], NULL, &rebuilt) == 0);
        CHECK_MSG(rebuilt == 1, "preprocessing change %d did not rebuild", k);
        CHECK(cache_preprocess(c)->width == q[k].width && cache_preprocess(c)->crop == q[k].crop &&
              cache_preprocess(c)->filter == q[k].filter);
        cache_close(c);
    }
    /* instruction settings change */
    CacheOptions ko = {.lang = "ko"};
    REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &q[2], &ko, &rebuilt) == 0);
    CHECK(rebuilt == 1);
    CHECK(strcmp(cache_episode(c, cache_find(c, names[0]))->instruction, episode_default_instruction("left", "ko")) == 0);
    cache_close(c);
    /* a different episode set */
    REQUIRE(cache_open_or_build(&c, path, dir, src, 2, &q[2], &ko, &rebuilt) == 0);
    CHECK(rebuilt == 1 && cache_num_episodes(c) == 2);
    cache_close(c);
    CHECK(count_tmp(test_tmpdir()) == 0);
}

TEST(cache_refuses_malformed_files_and_keeps_old_cache_on_failure)
{
    char dir[512], path[600], bad[600];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 4) == 0);
    CacheSource src[3];
    sources(src);
    Preprocess p = {16, 9, CROP_STRETCH, FILTER_AREA};
    dt_path(path, sizeof path, test_tmpdir(), "frames.cache");
    REQUIRE(cache_build(path, dir, src, 3, &p, NULL) == 0);
    MappedFile m;
    REQUIRE(file_map(&m, path) == 0);
    /* truncated */
    dt_path(bad, sizeof bad, test_tmpdir(), "bad.cache");
    REQUIRE(file_write_atomic(bad, m.data, m.size - 100) == 0);
    FrameCache *c = NULL;
    CHECK(cache_open(&c, bad) == MVLA_ERR_FORMAT && c == NULL);
    CHECK(strstr(mvla_error_message(), "truncated") != NULL);
    /* wrong magic */
    uint8_t *copy = malloc(m.size);
    memcpy(copy, m.data, m.size);
    copy[0] = 'X';
    REQUIRE(file_write_atomic(bad, copy, m.size) == 0);
    CHECK(cache_open(&c, bad) == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), "not a frame cache") != NULL);
    /* header edited: a field of the wrong type */
    memcpy(copy, m.data, m.size);
    char *hdr = (char *)copy + 16, *w = strstr(hdr, "\"width\":16");
    REQUIRE(w);
    memcpy(w, "\"width\":-6", 10);
    REQUIRE(file_write_atomic(bad, copy, m.size) == 0);
    CHECK(cache_open(&c, bad) == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), "width") != NULL);
    /* header length past the end */
    memcpy(copy, m.data, m.size);
    copy[15] = 0x7f;
    REQUIRE(file_write_atomic(bad, copy, m.size) == 0);
    CHECK(cache_open(&c, bad) == MVLA_ERR_FORMAT);
    /* empty and missing files */
    REQUIRE(file_write_atomic(bad, "", 0) == 0);
    CHECK(cache_open(&c, bad) == MVLA_ERR_FORMAT);
    dt_path(bad, sizeof bad, test_tmpdir(), "nope.cache");
    CHECK(cache_open(&c, bad) == MVLA_ERR_IO);
    free(copy);

    /* a failed build (a missing source) leaves the existing cache untouched and no temp file */
    CacheSource more[4];
    memcpy(more, src, sizeof src);
    more[3] = (CacheSource){"episode_missing.h5", NULL};
    CHECK(cache_build(path, dir, more, 4, &p, NULL) != 0);
    CHECK(strstr(mvla_error_message(), "episode_missing.h5") != NULL);
    MappedFile after;
    REQUIRE(file_map(&after, path) == 0);
    CHECK(after.size == m.size && memcmp(after.data, m.data, m.size) == 0);
    file_unmap(&after);
    file_unmap(&m);
    CHECK(count_tmp(test_tmpdir()) == 0);
    /* bad arguments */
    CacheSource dup[2] = {{names[0], NULL}, {names[0], NULL}};
    CHECK(cache_build(path, dir, dup, 2, &p, NULL) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "twice") != NULL);
    Preprocess zero = {0, 9, CROP_STRETCH, FILTER_AREA};
    CHECK(cache_build(path, dir, src, 3, &zero, NULL) == MVLA_ERR_ARG);
    CHECK(cache_build(path, dir, src, 0, &p, NULL) == MVLA_ERR_ARG);
    /* a corrupt cache is rebuilt by cache_open_or_build */
    REQUIRE(file_write_atomic(path, "garbage", 7) == 0);
    int rebuilt = 0;
    REQUIRE(cache_open_or_build(&c, path, dir, src, 3, &p, NULL, &rebuilt) == 0);
    CHECK(rebuilt == 1 && cache_num_episodes(c) == 3);
    cache_close(c);
}

TEST(cache_and_preview_cli)
{
    char dir[512], cache[600], png[600], png2[600], args[2048], out[8192];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 6) == 0);
    dt_path(cache, sizeof cache, test_tmpdir(), "c.cache");
    snprintf(args, sizeof args, "data cache '%s' --all -o '%s' --size 16x9 --crop pad --filter bicubic", dir, cache);
    int rc = dt_run_mvla(args, out, sizeof out);
    if (rc == -2) {
        fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
        return;
    }
    CHECK_MSG(rc == 0 && strstr(out, "built"), "mvla data cache failed: %s", out);
    CHECK(dt_run_mvla(args, out, sizeof out) == 0 && strstr(out, "up to date"));
    FrameCache *c = NULL;
    REQUIRE(cache_open(&c, cache) == 0);
    CHECK(cache_num_episodes(c) == 3 && cache_preprocess(c)->crop == CROP_PAD && cache_preprocess(c)->filter == FILTER_BICUBIC);
    cache_close(c);
    /* from a manifest */
    char man[600];
    dt_path(man, sizeof man, test_tmpdir(), "m.json");
    snprintf(args, sizeof args, "data split '%s' -o '%s' --train 0.34 --val 0.33 --test 0.33", dir, man);
    REQUIRE(dt_run_mvla(args, out, sizeof out) == 0);
    snprintf(args, sizeof args, "data cache '%s' --manifest '%s' -o '%s' --size 16x9 --crop pad --filter bicubic", dir, man, cache);
    CHECK_MSG(dt_run_mvla(args, out, sizeof out) == 0 && strstr(out, "up to date"), "%s", out);
    /* preview: a PNG of the expected size, the same bytes for the same seed */
    dt_path(png, sizeof png, test_tmpdir(), "grid.png");
    dt_path(png2, sizeof png2, test_tmpdir(), "grid2.png");
    snprintf(args, sizeof args, "data preview '%s' -o '%s' --n 6 --seed 3 --pairs", cache, png);
    CHECK_MSG(dt_run_mvla(args, out, sizeof out) == 0, "mvla data preview failed: %s", out);
    CHECK(strstr(out, "6 tiles") != NULL);
    snprintf(args, sizeof args, "data preview '%s' -o '%s' --n 6 --seed 3 --pairs", cache, png2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 0);
    CHECK(dt_files_equal(png, png2));
    MappedFile m;
    REQUIRE(file_map(&m, png) == 0);
    REQUIRE(m.size > 24);
    CHECK(memcmp(m.data, "\x89PNG", 4) == 0);
    /* IHDR width and height: 3 columns x (2 frames of 16 x scale 2 + 2) + borders; 2 rows of 9 x 2 */
    uint32_t w = (uint32_t)m.data[16] << 24 | m.data[17] << 16 | m.data[18] << 8 | m.data[19];
    uint32_t h = (uint32_t)m.data[20] << 24 | m.data[21] << 16 | m.data[22] << 8 | m.data[23];
    CHECK(w == 2 + 3 * (2 * 16 * 2 + 2 + 2) && h == 2 + 2 * (9 * 2 + 2));
    file_unmap(&m);
    /* bad input */
    snprintf(args, sizeof args, "data cache '%s' -o '%s'", dir, cache);
    CHECK(dt_run_mvla(args, out, sizeof out) == 2 && strstr(out, "--manifest"));
    snprintf(args, sizeof args, "data cache '%s' --all -o '%s' --size 16by9", dir, cache);
    CHECK(dt_run_mvla(args, out, sizeof out) == 2 && strstr(out, "WxH"));
    snprintf(args, sizeof args, "data cache '%s' --all -o '%s' --crop fill", dir, cache);
    CHECK(dt_run_mvla(args, out, sizeof out) == 2 && strstr(out, "center_crop"));
    snprintf(args, sizeof args, "data preview '%s' -o '%s'", man, png);
    CHECK(dt_run_mvla(args, out, sizeof out) == 1 && strstr(out, "not a frame cache"));
}

TEST(preview_grid_tiles_show_cached_frames)
{
    char dir[512], path[600];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    REQUIRE(write_set(dir, 7) == 0);
    CacheSource src[3];
    sources(src);
    Preprocess p = {16, 9, CROP_STRETCH, FILTER_AREA};
    FrameCache *c = NULL;
    REQUIRE(cache_open_or_build(&c, dt_path(path, sizeof path, test_tmpdir(), "p.cache"), dir, src, 3, &p, NULL, NULL) == 0);
    PreviewOptions o;
    preview_options_default(&o);
    o.n = 5, o.cols = 2, o.scale = 1, o.pairs = 1, o.seed = 4;
    o.aug.mirror_prob = 1; /* the right half of each tile is the mirrored frame */
    o.aug.rotate_deg = 0, o.aug.scale_max = 1, o.aug.translate = 0, o.aug.brightness = 0, o.aug.contrast = 0;
    o.aug.saturation = 0, o.aug.hue = 0, o.aug.gamma = 0, o.aug.noise_std = 0, o.aug.blur_prob = 0;
    uint8_t *rgb = NULL;
    int w, h;
    PreviewTile *tiles = NULL;
    REQUIRE(preview_grid(c, &o, &rgb, &w, &h, &tiles) == 0);
    int tw = 2 * 16 + 2;
    CHECK(w == 2 + 2 * (tw + 2) && h == 2 + 3 * (9 + 2));
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        const uint8_t *f = cache_frame(c, tiles[i].episode, tiles[i].t);
        int x0 = 2 + (i % 2) * (tw + 2), y0 = 2 + (i / 2) * (9 + 2);
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 16; x++) {
                ok &= memcmp(rgb + ((size_t)(y0 + y) * w + x0 + x) * 3, f + (y * 16 + x) * 3, 3) == 0;
                ok &= memcmp(rgb + ((size_t)(y0 + y) * w + x0 + 18 + x) * 3, f + (y * 16 + 15 - x) * 3, 3) == 0;
            }
        CHECK(tiles[i].mirrored);
        char *swapped = augment_swap_sides(cache_episode(c, tiles[i].episode)->instruction);
        CHECK(strcmp(tiles[i].instruction, swapped) == 0);
        free(swapped);
    }
    CHECK_MSG(ok, "a tile is not its cached frame beside the mirrored frame");
    free(rgb);
    preview_tiles_free(tiles, o.n);
    o.scale = 0;
    CHECK(preview_grid(c, &o, &rgb, &w, &h, &tiles) == MVLA_ERR_ARG);
    cache_close(c);
}
