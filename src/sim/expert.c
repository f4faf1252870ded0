/* The expert driver (see expert.h): a small state machine over the true pose, one key per step. */
#include "sim/expert.h"

#include "base/error.h"
#include "data/actions.h"

#include <limits.h>
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

/* A variant driver's habits: at least one, each drawn as the collector's operators showed them. */
static void draw_habits(Rng *r, float k, Habits *h)
{
    *h = CANONICAL;
    while (!has_habit(h)) {
        if (rng_uniform(r) < 0.35f) h->lane_extra = k * (0.6f + 0.4f * rng_uniform(r));
        if (rng_uniform(r) < 0.35f) h->early_keys = 1 + (int)rng_below(r, 2);
        h->diag_out = rng_uniform(r) < 0.35f;
        h->diag_back = rng_uniform(r) < 0.35f;
        h->late_back = rng_uniform(r) < 0.3f;
        if (rng_uniform(r) < 0.25f) {
            h->glance_step = 1 + (int)rng_below(r, 6);
            h->glance_dir = rng_uniform(r) < 0.5f ? 1 : -1;
        }
    }
}

/* The side named by the instruction; none named: the side with more room. */
static SimSide route_side(const SimScene *s, const char *instruction)
{
    int side = sim_instruction_side(instruction);
    if (side >= 0) return (SimSide)side;
    float infl = SIM_ROBOT_RADIUS + SIM_CLEARANCE;
    return s->room_y1 - (s->obst_y1 + infl) >= (s->obst_y0 - infl) - s->room_y0 ? SIM_SIDE_LEFT : SIM_SIDE_RIGHT;
}

/* A fresh route on side with habits h. */
static void expert_begin(Expert *x, SimSide side, const Habits *h)
{
    x->side = side;
    x->last = 0;
    x->passed = x->in_lane = x->step_no = 0;
    x->h = *h;
}

static int expert_reset(void *ctx, const char *instruction)
{
    Expert *x = ctx;
    const SimEnv *env = x->env;
    rng_seed(&x->rng, sim_mix_seed(env->seed, 0xe8, (uint64_t)x->opt.style, (uint64_t)x->opt.ignore_instruction));
    SimSide side = x->opt.ignore_instruction ? (SimSide)rng_below(&x->rng, 2) : route_side(env->scene, instruction);
    Habits h = CANONICAL;
    if (x->opt.style == SIM_EXPERT_VARIANT) draw_habits(&x->rng, sim_robot_key_distance(&env->cfg.robot), &h);
    expert_begin(x, side, &h);
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

/* The key for the current pose, and the route's bookkeeping advanced past it. */
static char expert_key(Expert *x)
{
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
    return key;
}

static int expert_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    (void)frame, (void)width, (void)height, (void)channel_order;
    Expert *x = ctx;
    key_to_action(expert_key(x), ACTION_VALUE, action);
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

/* ---- the key oracle (see expert.h) ---- */

struct SimKeyOracle {
    const SimEnv *env;
    int n;           /* hypotheses: 0 the canonical route, 1.. variant habit sets */
    float variant_frac, pose_noise;
    SimEnv seen;     /* the env with the pose as the oracle perceives it (pose_noise > 0) */
    Rng rng;
    Expert *hyp;
    float *weight;   /* prior */
    int *misses;     /* keys so far each hypothesis did not predict */
    char *key;       /* this step's key per hypothesis */
};

int sim_key_oracle_new(SimKeyOracle **out, const SimEnv *env, int hypotheses, float variant_frac, float pose_noise)
{
    *out = NULL;
    if (hypotheses < 2 || hypotheses > 1000000 || !(variant_frac >= 0 && variant_frac <= 1) ||
        !(pose_noise >= 0 && pose_noise <= 1))
        return mvla_fail(MVLA_ERR_ARG, "sim key oracle: hypotheses 2..1000000, variant fraction 0..1 and pose noise "
                                       "0..1 m expected");
    SimKeyOracle *o = calloc(1, sizeof *o);
    if (!o) return mvla_fail(MVLA_ERR_NOMEM, "sim key oracle: out of memory");
    o->env = env, o->n = hypotheses, o->variant_frac = variant_frac, o->pose_noise = pose_noise;
    o->hyp = calloc((size_t)hypotheses, sizeof *o->hyp);
    o->weight = calloc((size_t)hypotheses, sizeof *o->weight);
    o->misses = calloc((size_t)hypotheses, sizeof *o->misses);
    o->key = calloc((size_t)hypotheses, 1);
    if (!o->hyp || !o->weight || !o->misses || !o->key) {
        sim_key_oracle_free(o);
        return mvla_fail(MVLA_ERR_NOMEM, "sim key oracle: out of memory for %d hypotheses", hypotheses);
    }
    *out = o;
    return 0;
}

void sim_key_oracle_free(SimKeyOracle *o)
{
    if (!o) return;
    free(o->hyp);
    free(o->weight);
    free(o->misses);
    free(o->key);
    free(o);
}

void sim_key_oracle_reset(SimKeyOracle *o, const char *instruction, uint64_t seed)
{
    const SimEnv *env = o->env;
    rng_seed(&o->rng, sim_mix_seed(seed, 0x0a3c, 0, 0));
    SimSide side = route_side(env->scene, instruction);
    float k = sim_robot_key_distance(&env->cfg.robot);
    for (int i = 0; i < o->n; i++) {
        Expert *x = &o->hyp[i];
        memset(x, 0, sizeof *x);
        x->env = &o->seen;
        Habits h = CANONICAL;
        if (i > 0) draw_habits(&o->rng, k, &h); /* fresh habit sets per rollout: the prior, sampled */
        expert_begin(x, side, &h);
        o->weight[i] = i == 0 ? 1.0f - o->variant_frac : o->variant_frac / (float)(o->n - 1);
        o->misses[i] = 0;
    }
}

/* A standard normal draw (Box-Muller). */
static float gaussian(Rng *r)
{
    float u = rng_uniform(r), v = rng_uniform(r);
    return sqrtf(-2.0f * logf(u > 1e-12f ? u : 1e-12f)) * cosf(6.2831853f * v);
}

/* The weighted median of the hypotheses' values on one axis (those in play only). */
static float weighted_median(const SimKeyOracle *o, int best, int axis)
{
    float vals[9] = {0}, w[9] = {0}, total = 0; /* an axis takes -v, 0 or +v: three values suffice */
    int nv = 0;
    for (int i = 0; i < o->n; i++) {
        if (o->misses[i] != best) continue;
        float a[3];
        key_to_action(o->key[i], ACTION_VALUE, a);
        int j = 0;
        while (j < nv && vals[j] != a[axis]) j++;
        if (j == nv) vals[nv++] = a[axis];
        w[j] += o->weight[i];
        total += o->weight[i];
    }
    for (int i = 1; i < nv; i++) /* sort the (at most three) values */
        for (int j = i; j > 0 && vals[j] < vals[j - 1]; j--) {
            float t = vals[j]; vals[j] = vals[j - 1]; vals[j - 1] = t;
            t = w[j]; w[j] = w[j - 1]; w[j - 1] = t;
        }
    float acc = 0;
    for (int j = 0; j < nv; j++)
        if ((acc += w[j]) >= 0.5f * total) return vals[j];
    return nv ? vals[nv - 1] : 0;
}

char sim_key_oracle_step(SimKeyOracle *o, char true_key, float action[3])
{
    o->seen = *o->env; /* the hypotheses drive on what the oracle perceives */
    if (o->pose_noise > 0) {
        o->seen.pose.x += o->pose_noise * gaussian(&o->rng);
        o->seen.pose.y += o->pose_noise * gaussian(&o->rng);
    }
    int best = INT_MAX;
    for (int i = 0; i < o->n; i++) {
        o->key[i] = expert_key(&o->hyp[i]);
        if (o->misses[i] < best) best = o->misses[i];
    }
    float votes[256] = {0};
    for (int i = 0; i < o->n; i++)
        if (o->misses[i] == best) votes[(unsigned char)o->key[i]] += o->weight[i];
    int pick = ' ';
    for (int c = 0; c < 256; c++)
        if (votes[c] > votes[pick]) pick = c;
    for (int a = 0; a < 3; a++) action[a] = weighted_median(o, best, a);
    for (int i = 0; i < o->n; i++) o->misses[i] += o->key[i] != true_key;
    return (char)pick;
}
