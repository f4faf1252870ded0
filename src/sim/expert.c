/* The expert driver (see expert.h): a small state machine over the true pose, one key per step. */
#include "sim/expert.h"

#include "base/error.h"
#include "data/actions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Key steps of room the expert keeps beyond SIM_CLEARANCE, as a careful teleoperator does, so that a
 * learned policy a key or two off still clears the obstacles: ahead of them before sliding out, beside
 * them in the lane, and past them before sliding back in. Without it a single late key collided. */
#define AHEAD_KEYS 2.0f
#define LANE_KEYS 1.0f
#define PAST_KEYS 1.0f

/* A variant driver's habits, drawn once per rollout (all zero, glance_step -1, for core). Each is a
 * consistent habit, not a coin flip per step: within an episode the keys follow from the pose and
 * the habits, so a policy with history can tell them from the motion so far. */
typedef struct {
    float lane_extra; /* extra distance beside the obstacles (m) */
    int early_keys;   /* slides out this many key steps before it is needed */
    int diag_out;     /* heads for the lane diagonally while there is room ahead */
    int diag_back;    /* returns diagonally while forward is still needed */
    int late_back;    /* goes on forward past the obstacles before sliding back */
    int glance_step, glance_dir;
} Habits;

static const Habits CANONICAL = {.glance_step = -1};

typedef struct {
    const SimEnv *env;
    SimExpertOptions opt;
    Rng rng;
    SimSide side;
    char last;
    int passed, in_lane, step_no;
    Habits h;
} Expert;

static int has_habit(const Habits *h)
{
    return h->lane_extra > 0 || h->early_keys || h->diag_out || h->diag_back || h->late_back || h->glance_step >= 0;
}

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
    x->h = CANONICAL;
    if (x->opt.style == SIM_EXPERT_VARIANT) {
        float k = sim_robot_key_distance(&env->cfg.robot);
        Habits *h = &x->h;
        while (!has_habit(h)) {
            if (rng_uniform(&x->rng) < 0.35f) h->lane_extra = k * (0.6f + 0.4f * rng_uniform(&x->rng));
            if (rng_uniform(&x->rng) < 0.35f) h->early_keys = 1 + (int)rng_below(&x->rng, 2);
            h->diag_out = rng_uniform(&x->rng) < 0.35f;
            h->diag_back = rng_uniform(&x->rng) < 0.35f;
            h->late_back = rng_uniform(&x->rng) < 0.3f;
            if (rng_uniform(&x->rng) < 0.25f) {
                h->glance_step = 1 + (int)rng_below(&x->rng, 6);
                h->glance_dir = rng_uniform(&x->rng) < 0.5f ? 1 : -1;
            }
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

/* The key from the current pose: the canonical route, bent by the variant's style. */
static char choose_key(Expert *x)
{
    const SimEnv *env = x->env;
    const SimScene *s = env->scene;
    const SimPose *p = &env->pose;
    float k = sim_robot_key_distance(&env->cfg.robot), half = 0.5f * k;
    float infl = SIM_ROBOT_RADIUS + SIM_CLEARANCE;
    float bx0 = s->obst_x0 - infl, bx1 = s->obst_x1 + infl;
    float sg = x->side == SIM_SIDE_LEFT ? 1.0f : -1.0f;
    float lane = (sg > 0 ? s->obst_y1 + infl : -(s->obst_y0 - infl)) + x->h.lane_extra + LANE_KEYS * k; /* outward */

    if (fabsf(p->yaw) > 0.6f * k) return p->yaw > 0 ? 't' : 'r'; /* face the target again */
    if (x->step_no == x->h.glance_step) return x->h.glance_dir > 0 ? 'r' : 't';
    /* past the obstacles with margin, but never beyond the goal's depth (that would need S to return) */
    float past_x = fmaxf(bx1, fminf(bx1 + PAST_KEYS * k, s->goal_x - k));
    if (!x->passed && p->x > past_x) x->passed = 1;
    if (!x->passed) {
        /* Once in the lane, stay in it while drift keeps the clearance (the safety check has the rest). */
        if (sg * p->y >= lane - 0.03f) x->in_lane = 1;
        if (x->in_lane && sg * p->y >= lane - 0.07f) return 'w';
        char lat = sg > 0 ? 'a' : 'd', diag = sg > 0 ? 'q' : 'e';
        int room_ahead = p->x + (1.1f + AHEAD_KEYS + (float)x->h.early_keys) * k <= bx0; /* a forward key keeps the margin */
        if (!room_ahead) return lat;
        return x->h.diag_out ? diag : 'w';
    }
    float dx = s->goal_x - p->x, dy = s->goal_y - p->y;
    int need_lat = fabsf(dy) > half, need_fwd = dx > half;
    if (need_lat) {
        char lat = dy > 0 ? 'a' : 'd', diag = dy > 0 ? 'q' : 'e';
        if (x->h.late_back && dx > 1.5f * k) return 'w';
        if (x->h.diag_back && need_fwd) return diag;
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
        /* A variant's choice that would come too close: fall back on the canonical key (in the
         * variant's lane), then on any key that is safe (noise can leave the robot where the plan
         * does not fit exactly). */
        Habits habits = x->h;
        x->h = CANONICAL;
        x->h.lane_extra = habits.lane_extra;
        key = choose_key(x);
        x->h = habits;
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
