/* The policy interface shared by the runtime and the simulator: anything that maps (instruction,
 * camera frame) -> action. A trained model file, the simulator's expert and the baselines all fill
 * this small vtable, so `mvla sim eval` and the robot runtime drive them the same way:
 *
 *   policy_reset(&p, "Navigate ... on the left");         once per episode
 *   while (...) policy_step(&p, frame, w, h, POLICY_BGR, action);   once per key press
 *   policy_destroy(&p);
 *
 * Actions are raw units [linear_x m/s, linear_y m/s, angular_z rad/s], the teleop vocabulary's
 * scale (1.15 per axis, REFERENCE.md section 2). "Stop" is the space key, i.e. an action inside the
 * dead zone on every axis (policy_action_is_stop); there is no separate stop signal.
 * A policy that needs privileged state (the simulator's expert) gets it from its own constructor,
 * never through this interface. */
#ifndef MVLA_POLICY_H
#define MVLA_POLICY_H

#include <math.h>
#include <stdint.h>

#define POLICY_ACTION_DIM 3
/* The channel order of the frames handed to step: the collector's episodes are BGR. */
#define POLICY_BGR 0
#define POLICY_RGB 1
/* An action whose every |component| is below this counts as the stop key (their runtime's dead zone). */
#define POLICY_STOP_DEAD_ZONE 0.15f

typedef struct Policy {
    const char *name;  /* short, for tables: "expert", "forward", a model's name */
    void *ctx;
    /* Starts an episode with this instruction (may be NULL or ""). Returns 0 or an mvla status. */
    int (*reset)(void *ctx, const char *instruction);
    /* One frame in (height x width x 3 bytes, channel_order POLICY_BGR / POLICY_RGB, row 0 at the top),
     * one action out. Returns 0 or an mvla status (with mvla_fail's message). */
    int (*step)(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3]);
    /* Frees ctx; may be NULL when there is nothing to free. */
    void (*destroy)(void *ctx);
} Policy;

static inline int policy_reset(Policy *p, const char *instruction) { return p->reset(p->ctx, instruction); }

static inline int policy_step(Policy *p, const uint8_t *frame, int width, int height, int channel_order,
                              float action[3])
{
    return p->step(p->ctx, frame, width, height, channel_order, action);
}

/* Frees the context and clears p; safe on a zeroed Policy and twice. */
static inline void policy_destroy(Policy *p)
{
    if (p->destroy && p->ctx) p->destroy(p->ctx);
    p->ctx = 0;
    p->destroy = 0;
}

static inline int policy_action_is_stop(const float a[3], float dead_zone)
{
    return fabsf(a[0]) < dead_zone && fabsf(a[1]) < dead_zone && fabsf(a[2]) < dead_zone;
}

#endif
