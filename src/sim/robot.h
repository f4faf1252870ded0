/* The simulated robot: an omniwheel base (x forward, y sideways slide, z rotation) driven by
 * teleop key presses. One step = the key's action held for step_seconds (0.4 s), scaled by
 * speed_scale, with small execution noise; the motion is integrated in substeps and stops at the
 * first contact with a wall or object (a collision). */
#ifndef MVLA_SIM_ROBOT_H
#define MVLA_SIM_ROBOT_H

#include "base/rng.h"
#include "sim/scene.h"

typedef struct {
    float x, y, yaw; /* metres, radians (counter-clockwise from +x, i.e. toward the left) */
} SimPose;

typedef struct {
    float speed_scale;  /* metres moved per key = 1.15 m/s x step_seconds x speed_scale (default 0.5: 0.23 m) */
    float step_seconds; /* 0.4 */
    float radius;       /* footprint radius, SIM_ROBOT_RADIUS */
    float gain_noise;   /* relative std of each axis's executed speed per step (default 0.04) */
    float yaw_noise;    /* std of the heading drift per moving step, rad (default 0.01) */
} SimRobotParams;

void sim_robot_default(SimRobotParams *p);
/* Distance (m) one full key press moves, and angle (rad) one turn key turns. */
float sim_robot_key_distance(const SimRobotParams *p);

typedef enum { SIM_HIT_NONE = 0, SIM_HIT_WALL, SIM_HIT_OBSTACLE, SIM_HIT_TARGET, SIM_HIT_DISTRACTOR } SimHit;
const char *sim_hit_name(SimHit h);

/* What a disc of this radius at (x, y) overlaps (the first found); *object gets its index, or -1. */
SimHit sim_robot_collision(const SimScene *s, float x, float y, float radius, int *object);

#define SIM_SUBSTEPS 8

typedef struct {
    SimHit hit;              /* SIM_HIT_NONE unless the move ended in contact */
    int hit_object;          /* index into scene->obj, or -1 */
    int n;                   /* substeps completed */
    SimPose sub[SIM_SUBSTEPS]; /* the pose after each completed substep */
    float distance;          /* path length travelled (m) */
} SimMove;

/* Executes one action (raw units, each axis clamped to +-1.15; NaN counts as 0) from *pose, which is
 * updated. noise: NULL for an exact move, else the stream for the execution noise. */
void sim_robot_move(const SimScene *s, const SimRobotParams *p, SimPose *pose, const float action[3], Rng *noise,
                    SimMove *out);

#endif
