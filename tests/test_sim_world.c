/* Simulator world: scene generation (determinism, scenario geometry, room, distractors), the
 * omniwheel kinematics of every teleop key, collisions with boxes, walls and the target, and the
 * instruction's side. */
#include "base/error.h"
#include "data/actions.h"
#include "sim/robot.h"
#include "sim/scene.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* A generated scene emptied of objects, in a large room: free space for kinematics. */
static SimScene *empty_scene(void)
{
    SimScene *s = malloc(sizeof *s);
    SimSceneSpec sp = {1, SIM_LAYOUT_VERT, SIM_DIST_MEDIUM, SIM_LIGHT_MORNING, SIM_TARGET_CUP, 0};
    if (!s || sim_scene_generate_ex(s, &sp, 1, 0)) {
        free(s);
        return NULL;
    }
    s->n_objects = 0;
    s->room_x0 = s->room_y0 = -10, s->room_x1 = s->room_y1 = 10;
    return s;
}

static SimRobotParams exact_robot(void)
{
    SimRobotParams p;
    sim_robot_default(&p);
    p.gain_noise = p.yaw_noise = 0;
    return p;
}

TEST(sim_kinematics_every_key)
{
    SimScene *s = empty_scene();
    REQUIRE(s);
    SimRobotParams p = exact_robot();
    float k = sim_robot_key_distance(&p);
    CHECK_NEAR(k, 1.15 * 0.4 * 0.5, 1e-6);
    /* expected displacement in key units (forward, left) and turn, from REFERENCE.md's table */
    static const struct { char key; float dx, dy, dyaw; } want[] = {
        {'w', 1, 0, 0}, {'s', -1, 0, 0}, {'a', 0, 1, 0}, {'d', 0, -1, 0}, {'q', 1, 1, 0}, {'e', 1, -1, 0},
        {'z', -1, 1, 0}, {'c', -1, -1, 0}, {'r', 0, 0, 1}, {'t', 0, 0, -1}, {' ', 0, 0, 0}};
    for (int yawi = 0; yawi < 2; yawi++) {
        float yaw0 = yawi ? 1.5707963f : 0; /* facing +y: forward moves +y, left moves -x */
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            float a[3];
            REQUIRE(key_to_action(want[i].key, ACTION_VALUE, a) == 0);
            SimPose pose = {1.0f, -2.0f, yaw0};
            SimMove mv;
            sim_robot_move(s, &p, &pose, a, NULL, &mv);
            float ex = want[i].dx * k * cosf(yaw0) - want[i].dy * k * sinf(yaw0);
            float ey = want[i].dx * k * sinf(yaw0) + want[i].dy * k * cosf(yaw0);
            int turn = want[i].dyaw != 0;
            CHECK_MSG(mv.hit == SIM_HIT_NONE, "key '%c': unexpected hit", want[i].key);
            if (!turn) {
                CHECK_NEAR(pose.x - 1.0f, ex, 1e-4);
                CHECK_NEAR(pose.y + 2.0f, ey, 1e-4);
                CHECK_NEAR(pose.yaw, yaw0, 1e-6);
                CHECK_NEAR(mv.distance, hypotf(ex, ey), 1e-4);
            } else {
                CHECK_NEAR(pose.x, 1.0f, 1e-6);
                CHECK_NEAR(pose.y, -2.0f, 1e-6);
                CHECK_NEAR(pose.yaw - yaw0, want[i].dyaw * k, 1e-5); /* 1.15 rad/s x 0.4 s x 0.5 */
            }
            CHECK(mv.n == (want[i].key == ' ' ? SIM_SUBSTEPS : SIM_SUBSTEPS));
        }
    }
    /* out-of-range actions are clamped to the key value, NaN is no motion */
    float big[3] = {50, 0, 0}, nan3[3] = {NAN, NAN, NAN};
    SimPose a = {0, 0, 0}, b = {0, 0, 0};
    SimMove mv;
    sim_robot_move(s, &p, &a, big, NULL, &mv);
    CHECK_NEAR(a.x, k, 1e-5);
    sim_robot_move(s, &p, &b, nan3, NULL, &mv);
    CHECK(b.x == 0 && b.y == 0 && b.yaw == 0 && mv.distance == 0);
    /* speed scale 1: the real robot's 0.46 m per press */
    p.speed_scale = 1;
    SimPose c = {0, 0, 0};
    float w[3];
    key_to_action('w', ACTION_VALUE, w);
    sim_robot_move(s, &p, &c, w, NULL, &mv);
    CHECK_NEAR(c.x, 0.46, 1e-5);
    free(s);
}

TEST(sim_kinematics_noise_is_small_and_seeded)
{
    SimScene *s = empty_scene();
    REQUIRE(s);
    SimRobotParams p;
    sim_robot_default(&p);
    float w[3];
    key_to_action('w', ACTION_VALUE, w);
    Rng r1, r2;
    rng_seed(&r1, 5), rng_seed(&r2, 5);
    SimPose a = {0, 0, 0}, b = {0, 0, 0};
    SimMove mv;
    for (int i = 0; i < 10; i++) {
        sim_robot_move(s, &p, &a, w, &r1, &mv);
        sim_robot_move(s, &p, &b, w, &r2, &mv);
    }
    CHECK(a.x == b.x && a.y == b.y && a.yaw == b.yaw); /* same stream, same motion */
    float k = sim_robot_key_distance(&p);
    CHECK(fabsf(a.x - 10 * k) > 1e-4);                 /* noisy ... */
    CHECK(fabsf(a.x - 10 * k) < 0.1f * 10 * k);          /* ... but within 10 % */
    CHECK(fabsf(a.yaw) < 0.1f);
    free(s);
}

TEST(sim_collisions_boxes_walls_target)
{
    SimScene *s = empty_scene();
    REQUIRE(s);
    s->room_x0 = -1, s->room_x1 = 3, s->room_y0 = -2, s->room_y1 = 2;
    SimObject *box = &s->obj[s->n_objects++];
    memset(box, 0, sizeof *box);
    box->shape = SIM_SHAPE_BOX, box->role = SIM_ROLE_OBSTACLE, box->cx = 1.0f, box->cy = 0, box->hx = 0.2f, box->hy = 0.3f;
    box->yaw = 0.7853982f, box->z1 = 0.3f; /* turned 45 degrees */
    SimObject *cup = &s->obj[s->n_objects++];
    memset(cup, 0, sizeof *cup);
    cup->shape = SIM_SHAPE_CYLINDER, cup->role = SIM_ROLE_TARGET, cup->cx = 2.2f, cup->cy = 1.0f, cup->hx = cup->hy = 0.2f;
    int obj;
    float R = SIM_ROBOT_RADIUS;
    CHECK(sim_robot_collision(s, 0, 0, R, &obj) == SIM_HIT_NONE && obj == -1);
    CHECK(sim_robot_collision(s, 1.0f, 0, R, &obj) == SIM_HIT_OBSTACLE && obj == 0);
    /* the turned box's corner region: (1.3, 0.3) is outside the rotated footprint by more than R... */
    CHECK(sim_robot_collision(s, 1.0f + 0.62f, 0.62f, R, &obj) == SIM_HIT_NONE);
    /* ... but along its long axis (45 deg) the footprint reaches 0.3 m */
    CHECK(sim_robot_collision(s, 1.0f - 0.3f, 0.3f, R, &obj) == SIM_HIT_OBSTACLE);
    CHECK(sim_robot_collision(s, 2.2f, 1.0f + 0.3f, R, &obj) == SIM_HIT_TARGET && obj == 1);
    CHECK(sim_robot_collision(s, 2.2f, 1.0f + 0.39f, R, &obj) == SIM_HIT_NONE);
    CHECK(sim_robot_collision(s, 2.9f, 0, R, &obj) == SIM_HIT_WALL);
    CHECK(sim_robot_collision(s, 0, -1.9f, R, &obj) == SIM_HIT_WALL);

    /* driving into the box stops just short of it, and reports the collision */
    SimRobotParams p = exact_robot();
    float w[3];
    key_to_action('w', ACTION_VALUE, w);
    SimPose pose = {0.2f, 0, 0};
    SimMove mv;
    int hits = 0;
    for (int i = 0; i < 10 && !hits; i++) {
        sim_robot_move(s, &p, &pose, w, NULL, &mv);
        hits = mv.hit != SIM_HIT_NONE;
    }
    CHECK(hits && mv.hit == SIM_HIT_OBSTACLE && mv.hit_object == 0);
    CHECK(mv.n < SIM_SUBSTEPS);
    CHECK(sim_robot_collision(s, pose.x, pose.y, R, &obj) == SIM_HIT_NONE); /* left where it was free */
    CHECK(pose.x > 0.4f);
    /* the wall the same way, sideways */
    float a[3];
    key_to_action('a', ACTION_VALUE, a);
    pose = (SimPose){0, 0, 0};
    for (int i = 0; i < 20; i++) {
        sim_robot_move(s, &p, &pose, a, NULL, &mv);
        if (mv.hit) break;
    }
    CHECK(mv.hit == SIM_HIT_WALL);
    CHECK(pose.y + R <= s->room_y1 && pose.y + R > s->room_y1 - 0.06f);
    free(s);
}

TEST(sim_scene_deterministic_and_varied)
{
    SimScene *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    REQUIRE(a && b);
    SimSceneSpec sp = {2, SIM_LAYOUT_HORI, SIM_DIST_FAR, SIM_LIGHT_EVENING, SIM_TARGET_BOTTLE, 2};
    REQUIRE(sim_scene_generate(a, &sp, 42) == 0);
    REQUIRE(sim_scene_generate(b, &sp, 42) == 0);
    CHECK(memcmp(a, b, sizeof *a) == 0);
    REQUIRE(sim_scene_generate(b, &sp, 43) == 0);
    CHECK(a->obj[0].cx != b->obj[0].cx && a->goal_x != b->goal_x);
    CHECK(memcmp(a->floor_tex, b->floor_tex, sizeof a->floor_tex) != 0);
    /* without textures: identical geometry, colours and light */
    REQUIRE(sim_scene_generate_ex(b, &sp, 42, 0) == 0);
    CHECK(memcmp(a->obj, b->obj, sizeof a->obj) == 0 && memcmp(&a->light, &b->light, sizeof a->light) == 0);
    CHECK(memcmp(a->wall_color, b->wall_color, sizeof a->wall_color) == 0 && memcmp(a->decal, b->decal, sizeof a->decal) == 0);
    CHECK(a->goal_x == b->goal_x && a->goal_y == b->goal_y && a->room_x1 == b->room_x1 && a->n_objects == b->n_objects);
    /* bad specs are refused */
    SimSceneSpec bad = sp;
    bad.boxes = 3;
    CHECK(sim_scene_generate(b, &bad, 1) == MVLA_ERR_ARG);
    bad = sp, bad.lighting = (SimLighting)7;
    CHECK(sim_scene_generate(b, &bad, 1) == MVLA_ERR_ARG);
    bad = sp, bad.distractors = 9;
    CHECK(sim_scene_generate(b, &bad, 1) == MVLA_ERR_ARG);
    free(a), free(b);
}

TEST(sim_scene_geometry_invariants)
{
    SimScene *s = malloc(sizeof *s);
    REQUIRE(s);
    float infl = SIM_ROBOT_RADIUS + SIM_CLEARANCE;
    float gap_sum[SIM_DIST_COUNT] = {0};
    for (int seed = 0; seed < 20; seed++)
        for (int b = 1; b <= 2; b++)
            for (int l = 0; l < SIM_LAYOUT_COUNT; l++)
                for (int d = 0; d < SIM_DIST_COUNT; d++) {
                    SimSceneSpec sp = {b, (SimLayout)l, (SimDistance)d, (SimLighting)(seed % 4), (SimTarget)(seed % 3), seed % 4};
                    REQUIRE(sim_scene_generate_ex(s, &sp, (uint64_t)seed, 0) == 0);
                    CHECK(s->n_obstacles == b);
                    int obj;
                    /* start free, in front of the obstacles with room for at least one press */
                    CHECK(sim_robot_collision(s, s->start_x, s->start_y, SIM_ROBOT_RADIUS, &obj) == SIM_HIT_NONE);
                    CHECK(s->obst_x0 - infl > s->start_x);
                    gap_sum[d] += s->obst_x0 - s->start_x;
                    /* obstacles block the straight drive (the robot's swept width), goal beyond them */
                    float R = SIM_ROBOT_RADIUS;
                    CHECK(s->obst_y0 < s->start_y + R && s->obst_y1 > s->start_y - R);
                    CHECK(s->obst_y0 < s->goal_y + R && s->obst_y1 > s->goal_y - R);
                    CHECK(s->goal_x > s->obst_x1 + infl);
                    CHECK(s->target_x > s->goal_x + 0.3f);
                    CHECK(sim_robot_collision(s, s->goal_x, s->goal_y, SIM_ROBOT_RADIUS, &obj) == SIM_HIT_NONE);
                    /* vert: long side along the path; hori: across */
                    const SimObject *o = &s->obj[0];
                    CHECK(l == SIM_LAYOUT_VERT ? o->hx > o->hy : o->hy > o->hx);
                    /* two boxes side by side leave no gap the robot fits through */
                    if (b == 2 && l == SIM_LAYOUT_HORI) {
                        float gap = fabsf(s->obj[0].cy - s->obj[1].cy) - s->obj[0].hy - s->obj[1].hy;
                        CHECK(gap < 2 * SIM_ROBOT_RADIUS);
                    }
                    /* room encloses everything with space for a detour lane on both sides */
                    CHECK(s->room_y1 - (s->obst_y1 + infl) > 0.8f && (s->obst_y0 - infl) - s->room_y0 > 0.8f);
                    CHECK(s->room_x1 > s->target_x + 0.5f && s->room_x0 < s->start_x - 0.5f);
                    /* distractors stay out of the detour lanes and away from the target */
                    for (int i = 0; i < s->n_objects; i++) {
                        const SimObject *x = &s->obj[i];
                        if (x->role != SIM_ROLE_DISTRACTOR) continue;
                        int beside = fabsf(x->cy) > fmaxf(-s->obst_y0, s->obst_y1) + infl + 0.5f;
                        int behind = x->cx > s->target_x + 0.5f;
                        CHECK(beside || behind);
                    }
                }
    /* close < medium < far */
    CHECK(gap_sum[0] < gap_sum[1] && gap_sum[1] < gap_sum[2]);
    free(s);
}

TEST(sim_instruction_sides)
{
    for (int t = 0; t < SIM_TARGET_COUNT; t++)
        for (int sd = 0; sd < SIM_SIDE_COUNT; sd++) {
            CHECK(sim_instruction_side(sim_instruction((SimTarget)t, (SimSide)sd, "en")) == sd);
            CHECK(sim_instruction_side(sim_instruction((SimTarget)t, (SimSide)sd, "ko")) == sd);
        }
    CHECK(sim_instruction_side("Navigate to the gray basket on the LEFT") == SIM_SIDE_LEFT);
    CHECK(sim_instruction_side("컵까지 가세요") == -1);
    CHECK(sim_instruction_side("go upright, then leftover") == -1); /* words, not substrings */
    CHECK(sim_instruction_side("left or right") == -1);
    CHECK(sim_instruction_side(NULL) == -1);
    CHECK(strstr(sim_instruction(SIM_TARGET_BOTTLE, SIM_SIDE_RIGHT, "en"), "beverage bottle on the right") != NULL);
    CHECK(sim_lighting_parse("night") == SIM_LIGHT_NIGHT && sim_lighting_parse("noon") == -1);
    CHECK(sim_target_parse("basket") == SIM_TARGET_BASKET && sim_distance_parse("far") == SIM_DIST_FAR);
    CHECK(strcmp(sim_layout_name(SIM_LAYOUT_HORI), "hori") == 0 && strcmp(sim_side_name(SIM_SIDE_LEFT), "left") == 0);
}
