/* Simulator camera: same seed same bytes (any thread count), channel order, the target and the
 * obstacles in view from the start, floor below and walls above, a mirrored world gives a mirrored
 * image, and the lighting presets differ as they should. */
#include "base/error.h"
#include "base/threads.h"
#include "runtime/policy.h"
#include "sim/render.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static SimScene *make_scene(int boxes, SimLayout layout, SimDistance d, SimLighting l, SimTarget t, uint64_t seed)
{
    SimScene *s = malloc(sizeof *s);
    SimSceneSpec sp = {boxes, layout, d, l, t, 0};
    if (s && sim_scene_generate(s, &sp, seed) == 0) return s;
    free(s);
    return NULL;
}

static SimPose start_pose(const SimScene *s) { return (SimPose){s->start_x, s->start_y, s->start_yaw}; }

TEST(sim_render_deterministic)
{
    SimScene *s = make_scene(2, SIM_LAYOUT_VERT, SIM_DIST_MEDIUM, SIM_LIGHT_NIGHT, SIM_TARGET_BASKET, 7);
    REQUIRE(s);
    SimCamera cam;
    sim_camera_default(&cam, 160, 90);
    size_t n = 160 * 90 * 3;
    uint8_t *a = malloc(n), *b = malloc(n), *c = malloc(n);
    REQUIRE(a && b && c);
    SimPose p = start_pose(s);
    REQUIRE(sim_render(s, &p, &cam, 11, POLICY_BGR, a, NULL) == 0);
    REQUIRE(sim_render(s, &p, &cam, 11, POLICY_BGR, b, NULL) == 0);
    CHECK(memcmp(a, b, n) == 0);
    REQUIRE(sim_render(s, &p, &cam, 12, POLICY_BGR, b, NULL) == 0);
    long differ = 0, big = 0;
    for (size_t i = 0; i < n; i++) differ += a[i] != b[i], big += abs(a[i] - b[i]) > 40;
    CHECK(differ > (long)n / 4); /* another noise draw ... */
    CHECK(big < (long)n / 200);  /* ... of a few levels */
    cam.noise_scale = 0;
    REQUIRE(sim_render(s, &p, &cam, 11, POLICY_BGR, a, NULL) == 0);
    REQUIRE(sim_render(s, &p, &cam, 12, POLICY_BGR, b, NULL) == 0);
    CHECK(memcmp(a, b, n) == 0);
    /* RGB is BGR with the channels swapped */
    cam.noise_scale = 1;
    REQUIRE(sim_render(s, &p, &cam, 11, POLICY_BGR, a, NULL) == 0);
    REQUIRE(sim_render(s, &p, &cam, 11, POLICY_RGB, c, NULL) == 0);
    int swapped = 1;
    for (size_t i = 0; i < n; i += 3) swapped &= a[i] == c[i + 2] && a[i + 1] == c[i + 1] && a[i + 2] == c[i];
    CHECK(swapped);
    /* bad cameras are refused */
    SimCamera bad = cam;
    bad.width = 4;
    CHECK(sim_render(s, &p, &bad, 1, POLICY_BGR, a, NULL) == MVLA_ERR_ARG);
    bad = cam, bad.hfov_deg = 0;
    CHECK(sim_render(s, &p, &bad, 1, POLICY_BGR, a, NULL) == MVLA_ERR_ARG);
    CHECK(sim_render(s, &p, &cam, 1, 2, a, NULL) == MVLA_ERR_ARG);
    free(a), free(b), free(c), free(s);
}

TEST(sim_render_same_bytes_any_threads)
{
    SimScene *s = make_scene(1, SIM_LAYOUT_HORI, SIM_DIST_CLOSE, SIM_LIGHT_EVENING, SIM_TARGET_CUP, 3);
    REQUIRE(s);
    SimCamera cam;
    sim_camera_default(&cam, 400, 225); /* large enough for the parallel path */
    size_t n = 400 * 225 * 3;
    uint8_t *a = malloc(n), *b = malloc(n);
    REQUIRE(a && b);
    SimPose p = start_pose(s);
    int threads = mvla_get_threads();
    mvla_set_threads(1);
    int rc1 = sim_render(s, &p, &cam, 5, POLICY_BGR, a, NULL);
    mvla_set_threads(2);
    int rc2 = sim_render(s, &p, &cam, 5, POLICY_BGR, b, NULL);
    mvla_set_threads(threads);
    CHECK(rc1 == 0 && rc2 == 0);
    CHECK(memcmp(a, b, n) == 0);
    free(a), free(b), free(s);
}

static long count_id(const uint8_t *ids, long n, int id)
{
    long c = 0;
    for (long i = 0; i < n; i++) c += ids[i] == id;
    return c;
}

TEST(sim_render_first_frame_shows_target_and_obstacles)
{
    const int W = 160, H = 90;
    SimCamera cam;
    sim_camera_default(&cam, W, H);
    uint8_t *img = malloc((size_t)W * H * 3), *ids = malloc((size_t)W * H);
    REQUIRE(img && ids);
    long min_target = 1 << 30;
    for (int seed = 0; seed < 3; seed++)
        for (int b = 1; b <= 2; b++)
            for (int l = 0; l < SIM_LAYOUT_COUNT; l++)
                for (int d = 0; d < SIM_DIST_COUNT; d++) {
                    SimTarget t = (SimTarget)((seed + d) % SIM_TARGET_COUNT);
                    SimScene *s = make_scene(b, (SimLayout)l, (SimDistance)d, (SimLighting)(seed + b) % 4, t, (uint64_t)seed);
                    REQUIRE(s);
                    SimPose p = start_pose(s);
                    REQUIRE(sim_render(s, &p, &cam, 1, POLICY_BGR, img, ids) == 0);
                    long target = count_id(ids, (long)W * H, SIM_ID_OBJECT + s->target_index);
                    if (target < min_target) min_target = target;
                    CHECK_MSG(target >= 3, "%dbox %s %s seed %d: target covers %ld pixels in the first frame", b,
                              sim_layout_name((SimLayout)l), sim_distance_name((SimDistance)d), seed, target);
                    long obstacles = 0; /* the second of two boxes in a row may hide behind the first */
                    for (int k = 0; k < s->n_obstacles; k++) obstacles += count_id(ids, (long)W * H, SIM_ID_OBJECT + k);
                    CHECK(obstacles > 200);
                    /* the bottom row is floor or obstacle, the top row wall or ceiling */
                    long floor = 0, up = 0;
                    for (int x = 0; x < W; x++) {
                        uint8_t bot = ids[(size_t)(H - 1) * W + x], top = ids[x];
                        floor += bot == SIM_ID_FLOOR || (bot >= SIM_ID_OBJECT && bot < SIM_ID_OBJECT + s->n_obstacles);
                        up += top == SIM_ID_WALL || top == SIM_ID_CEILING;
                    }
                    CHECK(floor == W && up > W * 9 / 10);
                    free(s);
                }
    CHECK(min_target >= 3);
    free(img), free(ids);
}

TEST(sim_render_mirrored_world_mirrored_image)
{
    const int W = 160, H = 90;
    SimScene *s = make_scene(1, SIM_LAYOUT_VERT, SIM_DIST_MEDIUM, SIM_LIGHT_MORNING, SIM_TARGET_BOTTLE, 9);
    REQUIRE(s);
    SimCamera cam;
    sim_camera_default(&cam, W, H);
    cam.noise_scale = 0;
    uint8_t *a = malloc((size_t)W * H * 3), *b = malloc((size_t)W * H * 3), *ia = malloc((size_t)W * H),
            *ib = malloc((size_t)W * H);
    REQUIRE(a && b && ia && ib);
    SimPose p = start_pose(s);
    REQUIRE(sim_render(s, &p, &cam, 1, POLICY_BGR, a, ia) == 0);
    sim_scene_mirror(s);
    SimPose m = {p.x, -p.y, -p.yaw};
    REQUIRE(sim_render(s, &p, &cam, 1, POLICY_BGR, b, NULL) == 0); /* unmirrored pose: a different view */
    long same_unmirrored = 0;
    for (long i = 0; i < (long)W * H * 3; i++) same_unmirrored += a[i] == b[i];
    REQUIRE(sim_render(s, &m, &cam, 1, POLICY_BGR, b, ib) == 0);
    long ids_agree = 0;
    double diff = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x, j = (size_t)y * W + (W - 1 - x);
            ids_agree += ia[i] == ib[j];
            for (int c = 0; c < 3; c++) diff += abs(a[3 * i + c] - b[3 * j + c]);
        }
    diff /= (double)W * H * 3;
    CHECK_MSG(ids_agree >= (long)W * H * 97 / 100, "object ids agree on %ld of %d pixels", ids_agree, W * H);
    CHECK_MSG(diff < 6, "mean |mirrored - flipped| = %.2f levels", diff);
    CHECK(same_unmirrored < (long)W * H * 3 * 9 / 10);
    free(a), free(b), free(ia), free(ib), free(s);
}

/* mean of each channel (B, G, R) of one frame */
static void channel_means(const SimScene *s, double m[3])
{
    SimCamera cam;
    sim_camera_default(&cam, 96, 54);
    uint8_t img[96 * 54 * 3];
    SimPose p = start_pose(s);
    m[0] = m[1] = m[2] = 0;
    if (sim_render(s, &p, &cam, 1, POLICY_BGR, img, NULL)) return;
    for (int i = 0; i < 96 * 54; i++)
        for (int c = 0; c < 3; c++) m[c] += img[3 * i + c] / (96.0 * 54);
}

TEST(sim_render_lighting_presets)
{
    int night_darkest = 0, evening_warmer = 0, trials = 6;
    for (int seed = 0; seed < trials; seed++) {
        double m[SIM_LIGHT_COUNT][3], lum[SIM_LIGHT_COUNT];
        for (int l = 0; l < SIM_LIGHT_COUNT; l++) {
            SimScene *s = make_scene(1, SIM_LAYOUT_VERT, SIM_DIST_MEDIUM, (SimLighting)l, SIM_TARGET_CUP, (uint64_t)seed);
            REQUIRE(s);
            channel_means(s, m[l]);
            lum[l] = (m[l][0] + m[l][1] + m[l][2]) / 3;
            free(s);
        }
        if (getenv("MVLA_TEST_VERBOSE"))
            printf("    seed %d: luminance dawn %.1f morning %.1f evening %.1f night %.1f\n", seed, lum[0], lum[1], lum[2], lum[3]);
        night_darkest += lum[SIM_LIGHT_NIGHT] < lum[SIM_LIGHT_MORNING] - 10 && lum[SIM_LIGHT_NIGHT] < lum[SIM_LIGHT_DAWN] &&
                         lum[SIM_LIGHT_NIGHT] > 15; /* dark, not black */
        evening_warmer += m[SIM_LIGHT_EVENING][2] - m[SIM_LIGHT_EVENING][0] > m[SIM_LIGHT_MORNING][2] - m[SIM_LIGHT_MORNING][0];
    }
    CHECK_MSG(night_darkest == trials, "night darkest in %d of %d scenes", night_darkest, trials);
    CHECK_MSG(evening_warmer == trials, "evening warmer than morning in %d of %d scenes", evening_warmer, trials);
}
