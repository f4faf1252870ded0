/* CLIP image preprocessing: parity with the golden pixel_values_from_image* of
 * ../shared/golden/clip/tiny/io.safetensors (OpenAI's _transform on PIL images), Pillow-exact resizing
 * (golden image*_resized_u8 and tests/ref/clip_resize.safetensors from gen_clip_resize.py, up- and
 * down-scaling), BGR input, zero padding of an oversized crop, and the JSON round trip. */
#include "base/error.h"
#include "io/safetensors.h"
#include "models/clip_preprocess.h"
#include "golden.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static SafeTensors *open_golden_io(void)
{
    const char *root = golden_dir();
    if (!root) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/clip/tiny/io.safetensors", root);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        test_fail(__FILE__, __LINE__, "golden data not found: %s (the project's shared/golden/ inputs; run from the "
                  "repository root or set MVLA_GOLDEN_DIR)", path);
        return NULL;
    }
    SafeTensors *st = NULL;
    if (st_open(&st, path) != 0) {
        test_fail(__FILE__, __LINE__, "%s", mvla_error_message());
        return NULL;
    }
    return st;
}

/* A tensor as a malloc'd uint8 copy (values of U8 or exact-integer F32 tensors). */
static uint8_t *load_u8(const SafeTensors *st, const char *name, const StTensor **info)
{
    const StTensor *t = st_find(st, name);
    if (!t || t->ndim != 3 || t->shape[2] != 3) {
        test_fail(__FILE__, __LINE__, "%s: missing or not [H, W, 3]", name);
        return NULL;
    }
    float *f = malloc((size_t)t->numel * sizeof *f);
    uint8_t *u = malloc((size_t)t->numel);
    if (!f || !u || st_to_f32(t, f) != 0) {
        free(f), free(u);
        return NULL;
    }
    for (long i = 0; i < t->numel; i++) u[i] = (uint8_t)f[i];
    free(f);
    *info = t;
    return u;
}

static long count_diff_u8(const uint8_t *a, const uint8_t *b, long n, int *max_diff)
{
    long bad = 0;
    *max_diff = 0;
    for (long i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        bad += d != 0;
        if (d > *max_diff) *max_diff = d;
    }
    return bad;
}

static void check_golden_image(const char *image, const char *resized, const char *pixels)
{
    SafeTensors *st = open_golden_io();
    if (!st) return;
    const StTensor *ti = NULL, *tr = NULL, *tp = st_find(st, pixels);
    uint8_t *img = load_u8(st, image, &ti), *gold_resized = load_u8(st, resized, &tr);
    float *gold = NULL, *out = NULL, *out_bgr = NULL;
    uint8_t *mine = NULL, *bgr = NULL;
    if (!img || !gold_resized || !tp || tp->ndim != 4 || tp->shape[1] != 3 || tp->shape[2] != tp->shape[3]) {
        test_fail(__FILE__, __LINE__, "%s / %s / %s: missing or unexpected shapes", image, resized, pixels);
        goto done;
    }
    int h = (int)ti->shape[0], w = (int)ti->shape[1], R = (int)tp->shape[2];
    ClipPreprocess p;
    clip_preprocess_default(&p, R);
    /* geometry: torchvision's truncated long side */
    int rw, rh;
    clip_resized_size(&p, w, h, &rw, &rh);
    CHECK_MSG(rh == tr->shape[0] && rw == tr->shape[1], "%s: resized to %dx%d, golden %ldx%ld", image, rw, rh,
              (long)tr->shape[1], (long)tr->shape[0]);
    /* Pillow-exact resize */
    mine = malloc((size_t)rw * (size_t)rh * 3);
    if (!mine) goto done;
    CHECK(clip_resize_u8(img, w, h, 3, mine, rw, rh, CLIP_RESAMPLE_BICUBIC) == 0);
    int max_u8 = 0;
    long bad = count_diff_u8(mine, gold_resized, (long)rw * rh * 3, &max_u8);
    CHECK_MSG(bad == 0, "%s: %ld of %d resized bytes differ from Pillow's (max %d)", image, bad, rw * rh * 3, max_u8);
    /* the whole pipeline */
    long n = 3L * R * R;
    gold = malloc((size_t)n * sizeof *gold), out = malloc((size_t)n * sizeof *out);
    out_bgr = malloc((size_t)n * sizeof *out);
    bgr = malloc((size_t)w * (size_t)h * 3);
    if (!gold || !out || !out_bgr || !bgr || st_to_f32(tp, gold) != 0) goto done;
    if (clip_preprocess_image(&p, img, w, h, CLIP_RGB, out) != 0) {
        test_fail(__FILE__, __LINE__, "%s: %s", image, mvla_error_message());
        goto done;
    }
    double diff = max_abs_diff(out, gold, n);
    printf("    %s: max |ours - golden| = %.3g over %ld values (resize: %ld of %d bytes differ)\n", pixels, diff, n, bad,
           rw * rh * 3);
    CHECK_MSG(diff == 0.0, "%s: max abs difference %g (expected bit-exact)", pixels, diff);
    CHECK(diff <= 0.02);
    /* the same frame in BGR order, declared as BGR, gives the same tensor */
    for (long i = 0; i < (long)w * h; i++)
        for (int c = 0; c < 3; c++) bgr[i * 3 + c] = img[i * 3 + 2 - c];
    CHECK(clip_preprocess_image(&p, bgr, w, h, CLIP_BGR, out_bgr) == 0);
    CHECK(memcmp(out, out_bgr, (size_t)n * sizeof *out) == 0);
    /* declared wrongly, it does not */
    CHECK(clip_preprocess_image(&p, bgr, w, h, CLIP_RGB, out_bgr) == 0);
    CHECK(max_abs_diff(out, out_bgr, n) > 0.1);
    /* a model trained on BGR planes (mean/std listed in BGR order) gets the planes reversed */
    ClipPreprocess pb = p;
    pb.channel_order = CLIP_BGR;
    for (int c = 0; c < 3; c++) pb.mean[c] = p.mean[2 - c], pb.std[c] = p.std[2 - c];
    CHECK(clip_preprocess_image(&pb, img, w, h, CLIP_RGB, out_bgr) == 0);
    for (int c = 0; c < 3; c++)
        CHECK(memcmp(out_bgr + (long)c * R * R, out + (long)(2 - c) * R * R, (size_t)R * R * sizeof *out) == 0);
done:
    free(img), free(gold_resized), free(gold), free(out), free(out_bgr), free(mine), free(bgr);
    st_close(st);
}

TEST(clip_preprocess_golden_landscape_hard_edges)
{
    check_golden_image("image_u8", "image_resized_u8", "pixel_values_from_image");
}

TEST(clip_preprocess_golden_portrait_smooth)
{
    check_golden_image("image2_u8", "image2_resized_u8", "pixel_values_from_image2");
}

/* name, filter; mirrored from CASES in tests/ref/gen_clip_resize.py */
static const struct {
    const char *name;
    ClipResample filter;
} RESIZE_CASES[] = {
    {"up_bicubic", CLIP_RESAMPLE_BICUBIC},       {"down_bicubic", CLIP_RESAMPLE_BICUBIC},
    {"mixed_bicubic", CLIP_RESAMPLE_BICUBIC},    {"vertical_only", CLIP_RESAMPLE_BICUBIC},
    {"big_down_bicubic", CLIP_RESAMPLE_BICUBIC}, {"mixed_bilinear", CLIP_RESAMPLE_BILINEAR},
};

TEST(clip_preprocess_resize_matches_pillow)
{
    SafeTensors *st = NULL;
    REQUIRE(st_open(&st, "tests/ref/clip_resize.safetensors") == 0);
    for (size_t k = 0; k < sizeof RESIZE_CASES / sizeof *RESIZE_CASES; k++) {
        char in_name[64], out_name[64];
        snprintf(in_name, sizeof in_name, "%s.input", RESIZE_CASES[k].name);
        snprintf(out_name, sizeof out_name, "%s.output", RESIZE_CASES[k].name);
        const StTensor *ti = NULL, *to = NULL;
        uint8_t *in = load_u8(st, in_name, &ti), *ref = load_u8(st, out_name, &to);
        if (in && ref) {
            int ow = (int)to->shape[1], oh = (int)to->shape[0];
            uint8_t *mine = malloc((size_t)ow * (size_t)oh * 3);
            CHECK(mine && clip_resize_u8(in, (int)ti->shape[1], (int)ti->shape[0], 3, mine, ow, oh,
                                         RESIZE_CASES[k].filter) == 0);
            int max_d = 0;
            long bad = mine ? count_diff_u8(mine, ref, (long)ow * oh * 3, &max_d) : -1;
            CHECK_MSG(bad == 0, "%s: %ld bytes differ from Pillow (max %d)", RESIZE_CASES[k].name, bad, max_d);
            free(mine);
        }
        free(in), free(ref);
    }
    st_close(st);
}

TEST(clip_preprocess_constant_image_and_padding)
{
    /* a constant image stays constant through up- and down-scaling (weights sum to one) */
    enum { W = 31, H = 17 };
    uint8_t img[H * W * 3];
    for (int i = 0; i < H * W; i++) img[i * 3] = 200, img[i * 3 + 1] = 0, img[i * 3 + 2] = 255;
    uint8_t up[45 * 70 * 3], down[5 * 9 * 3];
    REQUIRE(clip_resize_u8(img, W, H, 3, up, 70, 45, CLIP_RESAMPLE_BICUBIC) == 0);
    REQUIRE(clip_resize_u8(img, W, H, 3, down, 9, 5, CLIP_RESAMPLE_BILINEAR) == 0);
    for (int i = 0; i < 45 * 70 * 3; i++) CHECK(up[i] == img[i % 3]);
    for (int i = 0; i < 5 * 9 * 3; i++) CHECK(down[i] == img[i % 3]);

    /* no resize, crop larger than the image: zero padding around it, like torchvision's CenterCrop */
    ClipPreprocess p;
    clip_preprocess_default(&p, 8);
    p.resize = 0;
    p.crop_height = H + 4, p.crop_width = W + 3; /* pad top 2, left 1 */
    int ch = p.crop_height, cw = p.crop_width;
    uint8_t grad[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) grad[i] = (uint8_t)(i * 7);
    float *out = malloc(3 * (size_t)ch * (size_t)cw * sizeof *out);
    REQUIRE(out);
    REQUIRE(clip_preprocess_image(&p, grad, W, H, CLIP_RGB, out) == 0);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                int sy = y - 2, sx = x - 1, in = sy >= 0 && sy < H && sx >= 0 && sx < W;
                float u = in ? grad[(sy * W + sx) * 3 + c] : 0;
                float expect = (u / 255.0f - p.mean[c]) / p.std[c];
                bad += out[(c * ch + y) * cw + x] != expect;
            }
    CHECK_MSG(bad == 0, "%d padded-crop values differ", bad);
    free(out);

    /* an image smaller than the model's input is scaled up: short side 64, long side truncated */
    clip_preprocess_default(&p, 64);
    int rw, rh;
    clip_resized_size(&p, W, H, &rw, &rh);
    CHECK(rh == 64 && rw == 116); /* 64 * 31 / 17 = 116.7 */
    float *o2 = malloc(3 * 64 * 64 * sizeof *o2);
    REQUIRE(o2);
    CHECK(clip_preprocess_image(&p, img, W, H, CLIP_RGB, o2) == 0);
    for (int c = 0; c < 3; c++) CHECK(o2[c * 64 * 64 + 100] == (img[c] / 255.0f - p.mean[c]) / p.std[c]);
    free(o2);

    /* bad arguments */
    CHECK(clip_preprocess_image(&p, img, 0, H, CLIP_RGB, NULL) == MVLA_ERR_ARG);
    p.std[1] = 0;
    CHECK(clip_preprocess_image(&p, img, W, H, CLIP_RGB, NULL) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "std[1]"), "%s", mvla_error_message());
    CHECK(clip_resize_u8(img, W, H, 3, up, 0, 5, CLIP_RESAMPLE_BICUBIC) == MVLA_ERR_ARG);
}

TEST(clip_preprocess_json_roundtrip)
{
    ClipPreprocess a, b;
    clip_preprocess_default(&a, 224);
    char *s = clip_preprocess_to_json_string(&a);
    REQUIRE(s);
    memset(&b, 0x55, sizeof b);
    REQUIRE(clip_preprocess_from_json_string(s, "test", &b) == 0);
    CHECK(b.resize == 224 && b.crop_height == 224 && b.crop_width == 224);
    CHECK(memcmp(a.mean, b.mean, sizeof a.mean) == 0 && memcmp(a.std, b.std, sizeof a.std) == 0);
    CHECK(b.resample == CLIP_RESAMPLE_BICUBIC && b.channel_order == CLIP_RGB);
    CHECK_MSG(strstr(s, "\"bicubic\"") && strstr(s, "\"rgb\""), "%s", s);
    free(s);

    /* every field changed, awkward floats */
    a.resize = 0, a.crop_height = 72, a.crop_width = 128;
    a.mean[0] = 1.0f / 3.0f, a.mean[1] = -0.0f, a.mean[2] = 1e-7f;
    a.std[0] = 3.4e38f, a.std[1] = 0.1f, a.std[2] = 1.17549435e-38f;
    a.resample = CLIP_RESAMPLE_BILINEAR, a.channel_order = CLIP_BGR;
    json_t *j = clip_preprocess_to_json(&a);
    REQUIRE(j);
    REQUIRE(clip_preprocess_from_json(j, "test", &b) == 0);
    json_decref(j);
    CHECK(b.resize == 0 && b.crop_height == 72 && b.crop_width == 128);
    CHECK(memcmp(a.mean, b.mean, sizeof a.mean) == 0 && memcmp(a.std, b.std, sizeof a.std) == 0);
    CHECK(b.resample == CLIP_RESAMPLE_BILINEAR && b.channel_order == CLIP_BGR);

    /* malformed: the message names the source and the field */
    const char *bad[][2] = {
        {"[1]", "JSON object"},
        {"{\"resize\": 224", "invalid JSON"},
        {"{\"crop_height\": 224, \"crop_width\": 224}", "\"resize\""},
        {"{\"resize\": -1, \"crop_height\": 224, \"crop_width\": 224}", "\"resize\""},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 0, \"mean\": [0,0,0], \"std\": [1,1,1], "
         "\"resample\": \"bicubic\", \"channel_order\": \"rgb\"}", "crop"},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 224, \"mean\": [0,0], \"std\": [1,1,1]}", "\"mean\""},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 224, \"mean\": [0,0,0], \"std\": [1,\"x\",1]}",
         "\"std\"[1]"},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 224, \"mean\": [0,0,0], \"std\": [1,0,1], "
         "\"resample\": \"bicubic\", \"channel_order\": \"rgb\"}", "std[1]"},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 224, \"mean\": [0,0,0], \"std\": [1,1,1], "
         "\"resample\": \"lanczos\", \"channel_order\": \"rgb\"}", "\"resample\""},
        {"{\"resize\": 224, \"crop_height\": 224, \"crop_width\": 224, \"mean\": [0,0,0], \"std\": [1,1,1], "
         "\"resample\": \"bilinear\", \"channel_order\": \"RGB\"}", "\"channel_order\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        memset(&b, 0, sizeof b);
        int rc = clip_preprocess_from_json_string(bad[k][0], "model.safetensors: preprocess", &b);
        const char *msg = mvla_error_message();
        CHECK_MSG(rc == MVLA_ERR_FORMAT && strstr(msg, "model.safetensors: preprocess") && strstr(msg, bad[k][1]),
                  "case %zu: rc %d, message: %s", k, rc, msg);
        CHECK(b.resize == 0 && b.crop_width == 0); /* untouched on error */
    }
}
