/* Omniwheel kinematics with substep integration and disc-vs-scene collision tests. */
#include "sim/robot.h"

#include "data/actions.h"

#include <math.h>
#include <string.h>

void sim_robot_default(SimRobotParams *p)
{
    p->speed_scale = 0.5f;
    p->step_seconds = 0.4f;
    p->radius = SIM_ROBOT_RADIUS;
    p->gain_noise = 0.04f;
    p->yaw_noise = 0.01f;
}

float sim_robot_key_distance(const SimRobotParams *p) { return ACTION_VALUE * p->step_seconds * p->speed_scale; }

const char *sim_hit_name(SimHit h)
{
    static const char *const names[] = {"none", "wall", "obstacle", "target", "distractor"};
    return (unsigned)h <= SIM_HIT_DISTRACTOR ? names[h] : "?";
}

static int disc_hits_object(const SimObject *o, float x, float y, float r)
{
    float dx = x - o->cx, dy = y - o->cy;
    if (o->shape == SIM_SHAPE_CYLINDER) return dx * dx + dy * dy < (r + o->hx) * (r + o->hx);
    float c = cosf(o->yaw), s = sinf(o->yaw);
    float lx = c * dx + s * dy, ly = -s * dx + c * dy; /* into the box's frame */
    float qx = fmaxf(fabsf(lx) - o->hx, 0), qy = fmaxf(fabsf(ly) - o->hy, 0);
    return qx * qx + qy * qy < r * r;
}

SimHit sim_robot_collision(const SimScene *s, float x, float y, float radius, int *object)
{
    *object = -1;
    if (x - radius < s->room_x0 || x + radius > s->room_x1 || y - radius < s->room_y0 || y + radius > s->room_y1)
        return SIM_HIT_WALL;
    for (int i = 0; i < s->n_objects; i++)
        if (disc_hits_object(&s->obj[i], x, y, radius)) {
            *object = i;
            switch (s->obj[i].role) {
            case SIM_ROLE_OBSTACLE: return SIM_HIT_OBSTACLE;
            case SIM_ROLE_DISTRACTOR: return SIM_HIT_DISTRACTOR;
            default: return SIM_HIT_TARGET;
            }
        }
    return SIM_HIT_NONE;
}

static float clamp_axis(float v)
{
    if (!(v == v)) return 0;
    return v > ACTION_VALUE ? ACTION_VALUE : v < -ACTION_VALUE ? -ACTION_VALUE : v;
}

static float wrap_angle(float a)
{
    while (a > 3.14159265f) a -= 6.2831853f;
    while (a < -3.14159265f) a += 6.2831853f;
    return a;
}

void sim_robot_move(const SimScene *s, const SimRobotParams *p, SimPose *pose, const float action[3], Rng *noise,
                    SimMove *out)
{
    memset(out, 0, sizeof *out);
    out->hit_object = -1;
    float v[3];
    int moving = 0;
    for (int k = 0; k < 3; k++) {
        v[k] = clamp_axis(action[k]) * p->speed_scale;
        moving |= v[k] != 0;
    }
    if (noise && moving)
        for (int k = 0; k < 3; k++) v[k] *= 1 + p->gain_noise * rng_normal(noise);
    float dt = p->step_seconds / SIM_SUBSTEPS;
    float drift = noise && moving ? p->yaw_noise * rng_normal(noise) / SIM_SUBSTEPS : 0;
    SimPose cur = *pose;
    for (int i = 0; i < SIM_SUBSTEPS; i++) {
        float mid = cur.yaw + 0.5f * v[2] * dt, c = cosf(mid), sn = sinf(mid);
        SimPose next = {cur.x + (v[0] * c - v[1] * sn) * dt, cur.y + (v[0] * sn + v[1] * c) * dt,
                        wrap_angle(cur.yaw + v[2] * dt + drift)};
        int obj;
        SimHit hit = sim_robot_collision(s, next.x, next.y, p->radius, &obj);
        if (hit != SIM_HIT_NONE) {
            out->hit = hit, out->hit_object = obj;
            break;
        }
        out->distance += hypotf(next.x - cur.x, next.y - cur.y);
        cur = next;
        out->sub[out->n++] = cur;
    }
    *pose = cur;
}
