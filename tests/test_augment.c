/* Augmentation: determinism per seed, mirror semantics (pixels, actions, instruction, scenario;
 * twice = identity), every augmentation changes the image when on and nothing when off. */
#include "base/error.h"
#include "data/actions.h"
#include "data/augment.h"
#include "data_testutil.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { AW = 40, AH = 24 };

static int bytes_differ(const uint8_t *a, const uint8_t *b, size_t n) { return memcmp(a, b, n) != 0; }

TEST(augment_same_seed_same_bytes)
{
    uint8_t *src = dt_image(AW, AH, 1);
    uint8_t *a = malloc(AW * AH * 3), *b = malloc(AW * AH * 3), *c = malloc(AW * AH * 3);
    AugmentParams p;
    augment_defaults(&p);
    p.blur_prob = 1.0f; /* everything on */
    for (uint64_t seed = 0; seed < 4; seed++) {
        Rng r1, r2, r3;
        rng_seed(&r1, seed);
        rng_seed(&r2, seed);
        rng_seed(&r3, seed + 100);
        AugmentDraw d1, d2, d3;
        augment_draw(&p, &r1, AW, AH, &d1);
        augment_draw(&p, &r2, AW, AH, &d2);
        augment_draw(&p, &r3, AW, AH, &d3);
        CHECK(memcmp(&d1, &d2, sizeof d1) == 0);
        REQUIRE(augment_image(&d1, 0, src, a, AW, AH) == 0);
        REQUIRE(augment_image(&d2, 0, src, b, AW, AH) == 0);
        REQUIRE(augment_image(&d3, 0, src, c, AW, AH) == 0);
        CHECK(!bytes_differ(a, b, AW * AH * 3));
        CHECK(bytes_differ(a, c, AW * AH * 3));
        /* The noise stream depends on the frame's index in the window. */
        REQUIRE(augment_image(&d1, 1, src, b, AW, AH) == 0);
        CHECK(bytes_differ(a, b, AW * AH * 3));
    }
    free(src), free(a), free(b), free(c);
}

TEST(augment_mirror_flips_pixels_actions_and_text)
{
    uint8_t *src = dt_image(AW, AH, 2);
    uint8_t *m = malloc(AW * AH * 3), *mm = malloc(AW * AH * 3);
    AugmentDraw d;
    augment_identity(&d);
    d.mirror = 1;
    REQUIRE(augment_image(&d, 0, src, m, AW, AH) == 0);
    int ok = 1;
    for (int y = 0; y < AH; y++)
        for (int x = 0; x < AW; x++)
            for (int c = 0; c < 3; c++) ok &= m[(y * AW + x) * 3 + c] == src[(y * AW + (AW - 1 - x)) * 3 + c];
    CHECK_MSG(ok, "mirrored pixel (x, y) is not source pixel (W-1-x, y)");
    REQUIRE(augment_image(&d, 0, m, mm, AW, AH) == 0);
    CHECK_MSG(!bytes_differ(src, mm, AW * AH * 3), "mirror twice is not the identity");

    float a[6] = {1.15f, 1.15f, 0.0f, 0.5f, -0.25f, 0.75f}, orig[6];
    memcpy(orig, a, sizeof a);
    augment_actions(&d, a, 2);
    CHECK(a[0] == orig[0] && a[3] == orig[3]); /* linear_x kept */
    CHECK(a[1] == -orig[1] && a[4] == -orig[4]); /* linear_y negated */
    CHECK(a[2] == -orig[2] && a[5] == -orig[5]); /* angular_z negated */
    char key_q = action_to_key(a, ACTION_TOL); /* q (forward-left, +y) becomes e (forward-right) */
    CHECK(key_q == 'e');
    augment_actions(&d, a, 2);
    CHECK(memcmp(a, orig, sizeof a) == 0);
    AugmentDraw none;
    augment_identity(&none);
    augment_actions(&none, a, 2);
    CHECK(memcmp(a, orig, sizeof a) == 0);

    struct {
        const char *in, *out;
    } cases[] = {
        {"Navigate around obstacles and reach the front of the beverage bottle on the left",
         "Navigate around obstacles and reach the front of the beverage bottle on the right"},
        {"Navigate to the gray basket on the right", "Navigate to the gray basket on the left"},
        {"\xea\xb0\x80\xec\x9e\xa5 \xec\x99\xbc\xec\xaa\xbd \xec\x99\xb8\xea\xb3\xbd\xec\x9c\xbc\xeb\xa1\x9c \xeb\x8f\x8c\xec\x95\x84 "
         "\xec\xbb\xb5\xea\xb9\x8c\xec\xa7\x80 \xea\xb0\x80\xec\x84\xb8\xec\x9a\x94", /* 가장 왼쪽 외곽으로 돌아 컵까지 가세요 */
         "\xea\xb0\x80\xec\x9e\xa5 \xec\x98\xa4\xeb\xa5\xb8\xec\xaa\xbd \xec\x99\xb8\xea\xb3\xbd\xec\x9c\xbc\xeb\xa1\x9c "
         "\xeb\x8f\x8c\xec\x95\x84 \xec\xbb\xb5\xea\xb9\x8c\xec\xa7\x80 \xea\xb0\x80\xec\x84\xb8\xec\x9a\x94"},
        {"1box_vert_left", "1box_vert_right"},
        {"2box_hori_right", "2box_hori_left"},
        {"Left, then RIGHT; leftmost rightward", "Right, then LEFT; rightmost leftward"},
        {"bright leftover copyright", "bright leftover copyright"}, /* not side words */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = augment_swap_sides(cases[i].in);
        REQUIRE(s);
        CHECK_MSG(strcmp(s, cases[i].out) == 0, "swap('%s') = '%s', expected '%s'", cases[i].in, s, cases[i].out);
        char *back = augment_swap_sides(s);
        CHECK_MSG(strcmp(back, cases[i].in) == 0, "swapping twice changed '%s' into '%s'", cases[i].in, back);
        free(s);
        free(back);
    }
    CHECK(augment_swap_sides(NULL) == NULL);
    free(src), free(m), free(mm);
}

/* Params with everything off except one field set by `set`. */
typedef void (*SetFn)(AugmentParams *);
static void set_rotate(AugmentParams *p) { p->rotate_deg = 15; }
static void set_scale(AugmentParams *p) { p->scale_min = 1.2f, p->scale_max = 1.3f; }
static void set_translate(AugmentParams *p) { p->translate = 0.2f; }
static void set_brightness(AugmentParams *p) { p->brightness = 0.5f; }
static void set_contrast(AugmentParams *p) { p->contrast = 0.5f; }
static void set_saturation(AugmentParams *p) { p->saturation = 0.5f; }
static void set_hue(AugmentParams *p) { p->hue = 0.2f; }
static void set_gamma(AugmentParams *p) { p->gamma = 0.5f; }
static void set_noise(AugmentParams *p) { p->noise_std = 10; }
static void set_blur(AugmentParams *p) { p->blur_prob = 1, p->blur_sigma = 1.5f; }
static void set_mirror(AugmentParams *p) { p->mirror_prob = 1; }

TEST(augment_each_changes_image_when_on_and_nothing_when_off)
{
    struct {
        const char *name;
        SetFn set;
    } on[] = {{"rotate", set_rotate},         {"scale", set_scale},   {"translate", set_translate},
              {"brightness", set_brightness}, {"contrast", set_contrast}, {"saturation", set_saturation},
              {"hue", set_hue},               {"gamma", set_gamma},   {"noise", set_noise},
              {"blur", set_blur},             {"mirror", set_mirror}};
    uint8_t *src = dt_image(AW, AH, 3), *dst = malloc(AW * AH * 3);
    AugmentParams off;
    augment_off(&off);
    CHECK(augment_validate(&off) == 0);
    for (uint64_t seed = 0; seed < 3; seed++) {
        Rng r;
        rng_seed(&r, seed);
        AugmentDraw d;
        augment_draw(&off, &r, AW, AH, &d);
        CHECK(augment_is_identity(&d));
        REQUIRE(augment_image(&d, 0, src, dst, AW, AH) == 0);
        CHECK_MSG(!bytes_differ(src, dst, AW * AH * 3), "augmentation off changed the image (seed %d)", (int)seed);
    }
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        AugmentParams p;
        augment_off(&p);
        on[i].set(&p);
        REQUIRE(augment_validate(&p) == 0);
        for (uint64_t seed = 0; seed < 3; seed++) {
            Rng r;
            rng_seed(&r, seed);
            AugmentDraw d;
            augment_draw(&p, &r, AW, AH, &d);
            CHECK_MSG(!augment_is_identity(&d), "%s on drew the identity (seed %d)", on[i].name, (int)seed);
            REQUIRE(augment_image(&d, 0, src, dst, AW, AH) == 0);
            long changed = 0;
            for (int k = 0; k < AW * AH * 3; k++) changed += src[k] != dst[k];
            CHECK_MSG(changed > AW * AH / 10, "%s on changed only %ld values (seed %d)", on[i].name, changed, (int)seed);
        }
    }
    free(src), free(dst);
}

TEST(augment_switching_one_off_keeps_the_other_draws)
{
    AugmentParams all, no_rot;
    augment_defaults(&all);
    no_rot = all;
    no_rot.rotate_deg = 0;
    Rng r1, r2;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    AugmentDraw a, b;
    augment_draw(&all, &r1, AW, AH, &a);
    augment_draw(&no_rot, &r2, AW, AH, &b);
    CHECK(b.angle_rad == 0 && a.angle_rad != 0);
    b.angle_rad = a.angle_rad;
    CHECK(memcmp(&a, &b, sizeof a) == 0);
}

TEST(augment_rejects_bad_params)
{
    AugmentParams p;
    augment_defaults(&p);
    CHECK(augment_validate(&p) == 0);
    p.mirror_prob = 1.5f;
    CHECK(augment_validate(&p) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "mirror_prob") != NULL);
    augment_defaults(&p);
    p.scale_min = 1.3f, p.scale_max = 1.1f;
    CHECK(augment_validate(&p) == MVLA_ERR_ARG);
    augment_defaults(&p);
    p.brightness = -0.1f;
    CHECK(augment_validate(&p) == MVLA_ERR_ARG);
    augment_defaults(&p);
    p.noise_std = NAN;
    CHECK(augment_validate(&p) == MVLA_ERR_ARG);
}
