/* One simulated rollout at a time: a scene, the robot's pose, its camera, and the bookkeeping that
 * closed-loop evaluation and episode generation need (steps, path, collisions, where the robot
 * passed the obstacles). Drive it with
 *
 *   sim_env_reset(env, &spec, seed);            new scene + start pose (same seed, same rollout)
 *   while (!env->done) { sim_env_render(env); ...policy...; sim_env_step(env, action); }
 *   sim_env_outcome(env, side, &outcome);
 */
#ifndef MVLA_SIM_ENV_H
#define MVLA_SIM_ENV_H

#include "base/rng.h"
#include "sim/render.h"
#include "sim/robot.h"
#include "sim/scene.h"

#include <stdint.h>

typedef struct {
    SimCamera camera;     /* default 160x90 */
    SimRobotParams robot;
    int max_steps;        /* actions before a timeout (default 40; the expert needs ~17) */
    float goal_radius;    /* success: stopped within this distance (m) of the goal spot (0.35) */
    float heading_tol_deg;/* ... and facing the target within this angle (30) */
    int exec_noise;       /* 1: execution noise on (default) */
    int no_render;        /* 1: scenes without textures, for rollouts that never render (a blind expert) */
} SimConfig;

void sim_config_default(SimConfig *c);

typedef struct SimEnv {
    SimConfig cfg;
    SimScene *scene;
    SimPose pose;
    uint64_t seed;        /* of the current rollout */
    Rng exec_rng;
    int steps;            /* moves executed (the stop key is not one) */
    int frame_no;         /* frames rendered since reset */
    int done, stopped;    /* done: stopped, collided or out of steps */
    SimHit hit;
    int hit_object;
    float path_len;
    int crossed;          /* reached the middle depth of the obstacles */
    float cross_y;        /* its y there */
    float *trail;         /* x, y pairs: the start, then every substep */
    int trail_n, trail_cap;
    uint8_t *frame;       /* the latest render, height x width x 3, BGR */
} SimEnv;

int sim_env_new(SimEnv **out, const SimConfig *cfg);
void sim_env_free(SimEnv *e);
/* A new rollout: scene from (spec, seed), the robot at its start, counters cleared. */
int sim_env_reset(SimEnv *e, const SimSceneSpec *spec, uint64_t seed);
/* Renders the current view into e->frame (BGR); the sensor noise depends on (seed, frame_no). */
int sim_env_render(SimEnv *e);
/* Executes one action (raw units): an action in the stop dead zone stops the rollout; otherwise
 * the robot moves and the rollout ends on a collision or at max_steps. Returns e->done. */
int sim_env_step(SimEnv *e, const float action[3]);

typedef struct {
    int success;          /* stopped (or out of steps) within goal_radius of the goal, facing the target, no collision */
    int stopped, collision, timeout;
    SimHit hit;
    int steps;
    float path_len;
    float goal_dist;      /* final distance to the goal spot (m) */
    float heading_err_deg;/* final angle between heading and the direction to the target */
    int crossed;          /* passed the obstacles' middle depth */
    int adhered;          /* ... on the instructed side */
} SimOutcome;

/* The rollout's result for an instruction naming side. */
void sim_env_outcome(const SimEnv *e, SimSide side, SimOutcome *o);

#endif
