/* Closed-loop evaluation: a policy drives the simulated robot from camera frames for R rollouts in
 * every cell of {1box, 2box} x {vert, hori} x {left, right} x {close, medium, far}, with fixed seeds.
 * Left and right rollouts of one cell index share their scene, so the instruction is the only
 * difference between them. Per rollout: success, collision, timeout, steps, path length, the
 * expert's path length on the same rollout, and whether the robot passed the obstacles on the
 * instructed side. */
#ifndef MVLA_SIM_EVAL_H
#define MVLA_SIM_EVAL_H

#include "runtime/policy.h"
#include "sim/env.h"

#include <stdint.h>

typedef struct {
    int rollouts;      /* per cell */
    uint64_t seed;
    int lighting;      /* a SimLighting, or -1: the four presets in turn */
    int target;        /* a SimTarget, or -1: cup, bottle, basket in turn */
    int distractors;   /* at most this many per scene (0..3) */
    const char *lang;  /* instruction language: "en" (default when NULL) or "ko" */
    int keep_trails;   /* keep every rollout's path (for the SVG) */
} SimEvalSpec;

void sim_eval_spec_default(SimEvalSpec *s);

typedef struct {
    SimSceneSpec scene;
    SimSide side;
    int index;         /* rollout index within its cell */
    uint64_t seed;
    SimOutcome out;
    float expert_len;  /* the core expert's path on the same rollout (m); 0 if it failed */
    float *trail;      /* x, y pairs from the start (keep_trails), else NULL */
    int trail_n;       /* floats in trail */
} SimRollout;

typedef struct {
    char policy[64];
    SimEvalSpec spec;
    SimConfig cfg;
    int n;
    SimRollout *r;
    long frames;       /* rendered */
    double seconds;
} SimEvalResult;

typedef void (*SimEvalProgress)(void *user, int done, int total);

/* Runs the grid with policy on env (the env a privileged expert was built on, or any env). The
 * reference expert runs on a private env with the same config. progress may be NULL. */
int sim_eval_run(SimEnv *env, Policy *policy, const SimEvalSpec *spec, SimEvalResult *out, SimEvalProgress progress,
                 void *user);
void sim_eval_free(SimEvalResult *r);

typedef struct {
    int n, success, collision, timeout, stopped, crossed, adhered;
    int success_on_side; /* success and passed on the instructed side: the task as instructed */
    double mean_steps;   /* over all rollouts */
    double path_ratio;   /* mean path / expert path over successful rollouts (0 if none) */
    double spl;          /* success weighted by expert path / max(path, expert path) */
} SimEvalSummary;

/* Aggregates the rollouts matching a filter; -1 matches anything. */
void sim_eval_summarize(const SimEvalResult *r, int boxes, int layout, int side, int distance, SimEvalSummary *s);

/* The collector's 8 scenarios {1,2}box x layout x side, in table order (k = 0..SIM_SCENARIO_COUNT-1):
 * aggregates scenario k's rollouts and writes its label ("1box_vert_left", ...) into name. */
#define SIM_SCENARIO_COUNT (2 * SIM_LAYOUT_COUNT * SIM_SIDE_COUNT)
void sim_eval_summarize_scenario(const SimEvalResult *r, int k, char *name, int name_len, SimEvalSummary *s);

/* JSON report (overall, per scenario, per distance, every rollout), written atomically. */
int sim_eval_write_json(const SimEvalResult *r, const char *path);

#endif
