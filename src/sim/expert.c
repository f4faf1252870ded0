/* The expert driver (see expert.h): a small state machine over the true pose, one key per step. */
#include "sim/expert.h"

#include "base/error.h"
#include "data/actions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Key steps of room the expert keeps ahead of and beside the obstacles beyond SIM_CLEARANCE, as a
 * careful teleoperator does: a learned policy that is one key late (one forward press too many, one
 * slide too few) still clears them. Without it a single late key collided at close range. */
#define SAFETY_KEYS 1.0f

typedef struct {
    const SimEnv *env;
    SimExpertOptions opt;
    Rng rng;
    SimSide side;
    char last;
    int passed, in_lane, step_no;
    /* variant choices, drawn per rollout (all zero for core) */
    float lane_extra; /* extra distance beside the obstacles (m) */
    float p_early;    /* chance per step of sliding out before it is needed */
    float p_diag;     /* chance of a diagonal key where one helps */
    float p_late;     /* chance per step of going on forward before sliding back */
    int glance_step, glance_dir;
} Expert;

static int expert_reset(void *ctx, const char *instruction)
{
    Expert *x = ctx;
    const SimEnv *env = x->env;
    const SimScene *s = env->scene;
    rng_seed(&x->rng, sim_mix_seed(env->seed, 0xe8, (uint64_t)x->opt.style, (uint64_t)x->opt.ignore_instruction));
    int side = sim_instruction_side(instruction);
    if (x->opt.ignore_instruction) side = (int)rng_below(&x->rng, 2);
    if (side < 0) { /* no side named: the side with more room */
        float infl = SIM_ROBOT_RADIUS + SIM_CLEARANCE;
        side = s->room_y1 - (s->obst_y1 + infl) >= (s->obst_y0 - infl) - s->room_y0 ? SIM_SIDE_LEFT : SIM_SIDE_RIGHT;
    }
    x->side = (SimSide)side;
    x->last = 0;
    x->passed = x->in_lane = x->step_no = 0;
    x->lane_extra = x->p_early = x->p_diag = x->p_late = 0;
    x->glance_step = -1, x->glance_dir = 0;
    if (x->opt.style == SIM_EXPERT_VARIANT) {
        float k = sim_robot_key_distance(&env->cfg.robot);
        if (rng_uniform(&x->rng) < 0.35f) x->lane_extra = k * (0.6f + 0.4f * rng_uniform(&x->rng));
        x->p_early = 0.5f * rng_uniform(&x->rng);
        x->p_diag = 0.6f * rng_uniform(&x->rng);
        x->p_late = 0.5f * rng_uniform(&x->rng);
        if (rng_uniform(&x->rng) < 0.3f) {
            x->glance_step = 1 + (int)rng_below(&x->rng, 6);
            x->glance_dir = rng_uniform(&x->rng) < 0.5f ? 1 : -1;
        }
    }
    return 0;
}

/* Would the nominal (noise-free) move of key hit anything, with a small safety margin? */
static int key_is_safe(const SimEnv *env, char key)
{
    float a[3];
    if (key_to_action(key, ACTION_VALUE, a)) return 0;
    SimRobotParams p = env->cfg.robot;
    p.radius += 0.03f;
    SimPose pose = env->pose;
    SimMove mv;
    sim_robot_move(env->scene, &p, &pose, a, NULL, &mv);
    return mv.hit == SIM_HIT_NONE;
}

/* The key of the canonical route from the current pose; *want_lateral etc. describe the situation
 * so the variant can choose among alternatives. */
static char choose_key(Expert *x)
{
    const SimEnv *env = x->env;
    const SimScene *s = env->scene;
    const SimPose *p = &env->pose;
    float k = sim_robot_key_distance(&env->cfg.robot), half = 0.5f * k;
    float infl = SIM_ROBOT_RADIUS + SIM_CLEARANCE;
    float bx0 = s->obst_x0 - infl, bx1 = s->obst_x1 + infl;
    float sg = x->side == SIM_SIDE_LEFT ? 1.0f : -1.0f;
    float lane = (sg > 0 ? s->obst_y1 + infl : -(s->obst_y0 - infl)) + x->lane_extra + SAFETY_KEYS * k; /* outward */
    int variant = x->opt.style == SIM_EXPERT_VARIANT;
    float r = rng_uniform(&x->rng); /* drawn every step, so core and variant streams stay aligned */

    if (fabsf(p->yaw) > 0.6f * k) return p->yaw > 0 ? 't' : 'r'; /* face the target again */
    if (x->step_no == x->glance_step) return x->glance_dir > 0 ? 'r' : 't';
    if (!x->passed && p->x > bx1) x->passed = 1;
    if (!x->passed) {
        /* Once in the lane, stay in it while drift keeps the clearance (the safety check has the rest). */
        if (sg * p->y >= lane - 0.03f) x->in_lane = 1;
        if (x->in_lane && sg * p->y >= lane - 0.07f) return 'w';
        char lat = sg > 0 ? 'a' : 'd', diag = sg > 0 ? 'q' : 'e';
        int room_ahead = p->x + (1.1f + SAFETY_KEYS) * k <= bx0; /* a forward key keeps the margin */
        if (!room_ahead) return lat;
        if (!variant) return 'w';
        return r < x->p_early ? lat : r < x->p_early + x->p_diag ? diag : 'w';
    }
    float dx = s->goal_x - p->x, dy = s->goal_y - p->y;
    int need_lat = fabsf(dy) > half, need_fwd = dx > half;
    if (need_lat) {
        char lat = dy > 0 ? 'a' : 'd', diag = dy > 0 ? 'q' : 'e';
        if (variant && need_fwd && r < x->p_diag) return diag;
        if (variant && need_fwd && dx > 1.5f * k && r < x->p_diag + x->p_late) return 'w';
        return lat;
    }
    if (need_fwd) return 'w';
    if (dx < -half) return 's';
    return ' ';
}

static int expert_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    (void)frame, (void)width, (void)height, (void)channel_order;
    Expert *x = ctx;
    char key = choose_key(x);
    if (key != ' ' && !key_is_safe(x->env, key)) {
        /* A variant's choice that would come too close: fall back on the canonical key, then on any
         * key that is safe (noise can leave the robot where the plan does not fit exactly). */
        SimExpertStyle style = x->opt.style;
        x->opt.style = SIM_EXPERT_CORE;
        int glance = x->glance_step;
        x->glance_step = -1;
        key = choose_key(x);
        x->opt.style = style, x->glance_step = glance;
        const char *order = x->side == SIM_SIDE_LEFT ? "wadqe" : "wdaeq";
        for (int i = 0; key != ' ' && !key_is_safe(x->env, key) && order[i]; i++) key = order[i];
        if (key != ' ' && !key_is_safe(x->env, key)) key = ' ';
    }
    x->step_no++;
    x->last = key;
    key_to_action(key, ACTION_VALUE, action);
    return 0;
}

static void expert_destroy(void *ctx) { free(ctx); }

int sim_expert_policy(Policy *out, const SimEnv *env, const SimExpertOptions *opt)
{
    memset(out, 0, sizeof *out);
    Expert *x = calloc(1, sizeof *x);
    if (!x) return mvla_fail(MVLA_ERR_NOMEM, "sim expert: out of memory");
    x->env = env;
    if (opt) x->opt = *opt;
    x->side = SIM_SIDE_LEFT;
    out->name = x->opt.ignore_instruction ? "expert-no-instruction"
                : x->opt.style == SIM_EXPERT_VARIANT ? "expert-variant"
                                                     : "expert";
    out->ctx = x;
    out->reset = expert_reset;
    out->step = expert_step;
    out->destroy = expert_destroy;
    return 0;
}

char sim_expert_last_key(const Policy *expert) { return ((const Expert *)expert->ctx)->last; }

SimSide sim_expert_side(const Policy *expert) { return ((const Expert *)expert->ctx)->side; }
