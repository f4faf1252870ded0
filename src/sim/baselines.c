/* Baseline policies (see baselines.h). */
#include "sim/baselines.h"

#include "base/error.h"
#include "base/rng.h"
#include "data/actions.h"
#include "sim/scene.h"

#include <stdlib.h>
#include <string.h>

static int forward_reset(void *ctx, const char *instruction)
{
    (void)ctx, (void)instruction;
    return 0;
}

static int forward_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    (void)ctx, (void)frame, (void)width, (void)height, (void)channel_order;
    key_to_action('w', ACTION_VALUE, action);
    return 0;
}

int sim_forward_policy(Policy *out)
{
    memset(out, 0, sizeof *out);
    out->name = "forward";
    out->reset = forward_reset;
    out->step = forward_step;
    return 0;
}

typedef struct {
    uint64_t seed, resets;
    Rng rng;
} RandomPolicy;

static int random_reset(void *ctx, const char *instruction)
{
    (void)instruction;
    RandomPolicy *p = ctx;
    rng_seed(&p->rng, sim_mix_seed(p->seed, 0x7a4d, p->resets++, 0));
    return 0;
}

static int random_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    (void)frame, (void)width, (void)height, (void)channel_order;
    RandomPolicy *p = ctx;
    key_to_action(ACTION_KEYS[rng_below(&p->rng, ACTION_NUM_KEYS)], ACTION_VALUE, action);
    return 0;
}

static void random_destroy(void *ctx) { free(ctx); }

int sim_random_policy(Policy *out, uint64_t seed)
{
    memset(out, 0, sizeof *out);
    RandomPolicy *p = calloc(1, sizeof *p);
    if (!p) return mvla_fail(MVLA_ERR_NOMEM, "sim random policy: out of memory");
    p->seed = seed;
    rng_seed(&p->rng, seed);
    out->name = "random";
    out->ctx = p;
    out->reset = random_reset;
    out->step = random_step;
    out->destroy = random_destroy;
    return 0;
}
