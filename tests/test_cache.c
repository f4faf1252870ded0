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
#include "ref.h"
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

/* ---- the area filter: exact area averaging (tests/ref/gen_area_resize.py) ---- */

/* Mirrors image() of gen_area_resize.py: hashed noise in a checkerboard of 5 x 3 cells, a wrapping
 * gradient elsewhere, channels as handed to preprocess (B, G, R). */
static uint8_t *area_image(int w, int h, int seed)
{
    uint8_t *img = malloc((size_t)w * h * 3);
    for (int y = 0; img && y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                uint32_t v = (uint32_t)x * 0x9E3779B1u + (uint32_t)y * 0x85EBCA77u + (uint32_t)c * 0xC2B2AE3Du +
                             (uint32_t)seed * 0x27D4EB2Fu;
                v ^= v >> 15;
                v *= 0x2C1B3C6Du;
                v ^= v >> 12;
                uint32_t smooth = ((uint32_t)x * 7 + (uint32_t)y * 3 + (uint32_t)c * 50) & 255;
                img[((size_t)y * w + x) * 3 + c] = (uint8_t)((x / 5 + y / 3) % 3 == 0 ? v & 255 : smooth);
            }
    return img;
}

static const char *const AREA_CASES[] = {"vga_64",    "hd_128x72",  "hd_64",      "odd_16x9",    "one_pixel",
                                         "one_row",   "one_column", "enlarge",    "mixed",       "vga_center",
                                         "wide_center", "vga_pad",  "tall_pad",   "wide_pad"};

/* Largest |got - ref| over n bytes (ref as F32), and how many differ. */
static int area_diff(const uint8_t *got, const float *ref, long n, int swap, long *ndiff)
{
    int worst = 0;
    *ndiff = 0;
    for (long i = 0; i < n; i++) {
        long j = swap ? i - i % 3 + (2 - i % 3) : i; /* the reference with R and B exchanged */
        int d = abs((int)got[i] - (int)ref[j]);
        *ndiff += d != 0;
        if (d > worst) worst = d;
    }
    return worst;
}

TEST(preprocess_area_matches_the_exact_reference)
{
    const char *file = "area_resize.safetensors";
    PreprocessPlan plan = {0}; /* one plan for every case: rebuilt as sizes change */
    for (size_t k = 0; k < sizeof AREA_CASES / sizeof *AREA_CASES; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.params", AREA_CASES[k]);
        Tensor *par = ref_load(file, name);
        snprintf(name, sizeof name, "%s.probes", AREA_CASES[k]);
        Tensor *probes = ref_load(file, name);
        snprintf(name, sizeof name, "%s.output", AREA_CASES[k]);
        Tensor *ref = ref_load(file, name);
        REQUIRE(par && probes && ref && par->numel == 6);
        int sw = (int)par->data[0], sh = (int)par->data[1];
        Preprocess p = {(int)par->data[2], (int)par->data[3], (CropPolicy)(int)par->data[4], FILTER_AREA};
        uint8_t *img = area_image(sw, sh, (int)par->data[5]);
        long n = (long)p.width * p.height * 3;
        uint8_t *out = malloc((size_t)n), *once = malloc((size_t)n);
        REQUIRE(img && out && once && ref->numel == n);
        int probes_ok = 1;
        for (long i = 0; i < probes->numel / 4; i++) {
            const float *q = probes->data + 4 * i;
            probes_ok &= img[((size_t)q[1] * sw + (size_t)q[0]) * 3 + (size_t)q[2]] == (uint8_t)q[3];
        }
        CHECK_MSG(probes_ok, "%s: the test image differs from gen_area_resize.py's (image() vs area_image())",
                  AREA_CASES[k]);
        long ndiff;
        /* BGR source -> RGB */
        REQUIRE(preprocess_run(&plan, &p, img, sw, sh, PREPROCESS_BGR, out) == 0);
        int worst = area_diff(out, ref->data, n, 0, &ndiff);
        CHECK_MSG(worst <= 1, "%s %dx%d -> %dx%d %s: max |diff| %d grey levels (> 1)", AREA_CASES[k], sw, sh, p.width,
                  p.height, crop_name(p.crop), worst);
        CHECK_MSG(ndiff == 0, "%s: %ld of %ld values differ from the exact round-half-up reference (max %d)",
                  AREA_CASES[k], ndiff, n, worst);
        /* the same bytes taken as RGB: the output is the reference with R and B exchanged */
        REQUIRE(preprocess_run(&plan, &p, img, sw, sh, PREPROCESS_RGB, out) == 0);
        worst = area_diff(out, ref->data, n, 1, &ndiff);
        CHECK_MSG(ndiff == 0, "%s as RGB: %ld values differ from the channel-swapped reference (max %d)",
                  AREA_CASES[k], ndiff, worst);
        /* one-off frames through a temporary plan give the same bytes */
        REQUIRE(preprocess_frame(&p, img, sw, sh, once) == 0);
        worst = area_diff(once, ref->data, n, 0, &ndiff);
        CHECK_MSG(ndiff == 0, "%s: preprocess_frame differs from the reference in %ld values", AREA_CASES[k], ndiff);
        free(img), free(out), free(once);
        tensor_free(par), tensor_free(probes), tensor_free(ref);
    }
    preprocess_plan_free(&plan);
}

TEST(preprocess_area_is_exact_on_constant_images_and_copies_at_the_same_size)
{
    /* a constant frame stays constant under any scale and crop (only pad adds black) */
    const int sizes[][4] = {{640, 480, 64, 64}, {37, 23, 16, 9}, {5, 3, 11, 7}, {1, 1, 4, 3}, {7, 2, 1, 1}};
    PreprocessPlan plan = {0};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int sw = sizes[k][0], sh = sizes[k][1], W = sizes[k][2], H = sizes[k][3];
        uint8_t *img = malloc((size_t)sw * sh * 3), *out = malloc((size_t)W * H * 3);
        REQUIRE(img && out);
        for (long i = 0; i < (long)sw * sh; i++) img[3 * i] = 255, img[3 * i + 1] = 0, img[3 * i + 2] = 127; /* BGR */
        for (int crop = 0; crop < 2; crop++) {
            Preprocess p = {W, H, (CropPolicy)crop, FILTER_AREA};
            REQUIRE(preprocess_run(&plan, &p, img, sw, sh, PREPROCESS_BGR, out) == 0);
            int ok = 1;
            for (long i = 0; i < (long)W * H; i++) ok &= out[3 * i] == 127 && out[3 * i + 1] == 0 && out[3 * i + 2] == 255;
            CHECK_MSG(ok, "%dx%d -> %dx%d %s: a constant frame did not stay constant", sw, sh, W, H, crop_name(p.crop));
        }
        free(img), free(out);
    }
    /* the same size is an exact copy (channels swapped) */
    uint8_t *tex = dt_image(64, 36, 9), *rgb = malloc(64 * 36 * 3);
    REQUIRE(tex && rgb);
    Preprocess p = {64, 36, CROP_STRETCH, FILTER_AREA};
    REQUIRE(preprocess_run(&plan, &p, tex, 64, 36, PREPROCESS_BGR, rgb) == 0);
    int same = 1;
    for (long i = 0; i < 64 * 36; i++)
        same &= rgb[3 * i] == tex[3 * i + 2] && rgb[3 * i + 1] == tex[3 * i + 1] && rgb[3 * i + 2] == tex[3 * i];
    CHECK_MSG(same, "64x36 -> 64x36: not an exact copy");
    REQUIRE(preprocess_run(&plan, &p, tex, 64, 36, PREPROCESS_RGB, rgb) == 0);
    CHECK(memcmp(rgb, tex, 64 * 36 * 3) == 0);
    free(tex), free(rgb);
    preprocess_plan_free(&plan);
}

/* Counting allocations: under AddressSanitizer every malloc in the process goes through its hook
 * (stb_image_resize's inside libstb too); a plain build has no hook, and the test checks the plan's
 * own bookkeeping only. */
#if defined(__SANITIZE_ADDRESS__)
/* <sanitizer/allocator_interface.h> (not shipped with GCC 12; the function is in libasan) */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
#define COUNTS_MALLOCS 1
static volatile long n_mallocs;
static void on_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr, (void)size;
    n_mallocs++;
}
static void on_free(const volatile void *ptr) { (void)ptr; }
static long mallocs(void)
{
    static int installed;
    if (!installed) installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
    return n_mallocs;
}
#else
#define COUNTS_MALLOCS 0
static long mallocs(void) { return 0; }
#endif

TEST(preprocess_plan_allocates_nothing_in_steady_state)
{
    uint8_t *vga = dt_image(640, 480, 3), *hd = dt_image(1280, 720, 4), *small = dt_image(320, 240, 5);
    uint8_t rgb[64 * 64 * 3];
    REQUIRE(vga && hd && small);
    Preprocess p = {64, 64, CROP_STRETCH, FILTER_AREA};
    PreprocessPlan plan = {0};
    REQUIRE(preprocess_run(&plan, &p, vga, 640, 480, PREPROCESS_BGR, rgb) == 0);
    CHECK(plan.builds == 1);
    const void *mem = plan.area.mem;
    long before = mallocs();
    for (int t = 0; t < 20; t++) REQUIRE(preprocess_run(&plan, &p, vga, 640, 480, (PreprocessOrder)(t & 1), rgb) == 0);
    CHECK_MSG(mallocs() == before, "20 steady-state calls allocated %ld times", mallocs() - before);
    CHECK(plan.builds == 1 && plan.area.mem == mem);
    /* a smaller frame rebuilds the tables in the same block; a larger one grows it once */
    REQUIRE(preprocess_run(&plan, &p, small, 320, 240, PREPROCESS_BGR, rgb) == 0);
    CHECK(plan.builds == 2 && plan.area.mem == mem);
    CHECK_MSG(mallocs() == before, "rebuilding for a smaller frame allocated");
    REQUIRE(preprocess_run(&plan, &p, hd, 1280, 720, PREPROCESS_BGR, rgb) == 0);
    CHECK(plan.builds == 3);
    before = mallocs();
    for (int t = 0; t < 5; t++) REQUIRE(preprocess_run(&plan, &p, hd, 1280, 720, PREPROCESS_BGR, rgb) == 0);
    CHECK(plan.builds == 3 && mallocs() == before);
    /* new settings rebuild too, and give what a fresh plan gives */
    Preprocess q = {64, 64, CROP_CENTER, FILTER_AREA};
    uint8_t fresh[64 * 64 * 3];
    REQUIRE(preprocess_run(&plan, &q, hd, 1280, 720, PREPROCESS_BGR, rgb) == 0);
    CHECK(plan.builds == 4);
    REQUIRE(preprocess_frame(&q, hd, 1280, 720, fresh) == 0);
    CHECK(memcmp(rgb, fresh, sizeof rgb) == 0);
    if (COUNTS_MALLOCS) { /* the bicubic path still allocates (stb_image_resize), as documented */
        Preprocess b = {64, 64, CROP_STRETCH, FILTER_BICUBIC};
        REQUIRE(preprocess_run(&plan, &b, vga, 640, 480, PREPROCESS_BGR, rgb) == 0);
        before = mallocs();
        REQUIRE(preprocess_run(&plan, &b, vga, 640, 480, PREPROCESS_BGR, rgb) == 0);
        CHECK(mallocs() > before);
    }
    /* bad input: refused, and the plan stays usable */
    CHECK(preprocess_run(&plan, &p, vga, 0, 480, PREPROCESS_BGR, rgb) == MVLA_ERR_ARG);
    CHECK(preprocess_run(&plan, &p, vga, 640, 480, (PreprocessOrder)7, rgb) == MVLA_ERR_ARG);
    Preprocess bad = {0, 64, CROP_STRETCH, FILTER_AREA};
    CHECK(preprocess_run(&plan, &bad, vga, 640, 480, PREPROCESS_BGR, rgb) == MVLA_ERR_ARG);
    REQUIRE(preprocess_run(&plan, &p, vga, 640, 480, PREPROCESS_BGR, rgb) == 0);
    REQUIRE(preprocess_frame(&p, vga, 640, 480, fresh) == 0);
    CHECK(memcmp(rgb, fresh, sizeof rgb) == 0);
    preprocess_plan_free(&plan);
    preprocess_plan_free(&plan); /* twice is harmless */
    free(vga), free(hd), free(small);
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
