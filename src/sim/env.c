/* The rollout environment (see env.h). */
#include "sim/env.h"

#include "base/error.h"
#include "runtime/policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sim_config_default(SimConfig *c)
{
    memset(c, 0, sizeof *c);
    sim_camera_default(&c->camera, SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
    sim_robot_default(&c->robot);
    c->max_steps = 40;
    c->goal_radius = 0.35f;
    c->heading_tol_deg = 30.0f;
    c->exec_noise = 1;
}

int sim_env_new(SimEnv **out, const SimConfig *cfg)
{
    *out = NULL;
    if (cfg->camera.width < 8 || cfg->camera.height < 8 || cfg->camera.width > 8192 || cfg->camera.height > 8192)
        return mvla_fail(MVLA_ERR_ARG, "sim: image size %dx%d: expected 8..8192 pixels a side", cfg->camera.width,
                         cfg->camera.height);
    if (cfg->max_steps < 1 || !(cfg->robot.speed_scale > 0) || !(cfg->robot.step_seconds > 0) || !(cfg->goal_radius > 0))
        return mvla_fail(MVLA_ERR_ARG, "sim: config: max_steps >= 1, speed scale, step time and goal radius > 0 expected");
    SimEnv *e = calloc(1, sizeof *e);
    if (!e) return mvla_fail(MVLA_ERR_NOMEM, "sim: out of memory");
    e->cfg = *cfg;
    e->scene = malloc(sizeof *e->scene);
    e->frame = malloc((size_t)cfg->camera.width * cfg->camera.height * 3);
    e->trail_cap = 2 * (1 + SIM_SUBSTEPS * (cfg->max_steps + 1));
    e->trail = malloc((size_t)e->trail_cap * sizeof *e->trail);
    if (!e->scene || !e->frame || !e->trail) {
        sim_env_free(e);
        return mvla_fail(MVLA_ERR_NOMEM, "sim: out of memory for a %dx%d camera", cfg->camera.width, cfg->camera.height);
    }
    *out = e;
    return 0;
}

void sim_env_free(SimEnv *e)
{
    if (!e) return;
    free(e->scene);
    free(e->frame);
    free(e->trail);
    free(e);
}

static void trail_add(SimEnv *e, float x, float y)
{
    if (e->trail_n + 2 > e->trail_cap) return;
    e->trail[e->trail_n++] = x;
    e->trail[e->trail_n++] = y;
}

int sim_env_reset(SimEnv *e, const SimSceneSpec *spec, uint64_t seed)
{
    int rc = sim_scene_generate_ex(e->scene, spec, seed, !e->cfg.no_render);
    if (rc) return rc;
    e->seed = seed;
    rng_seed(&e->exec_rng, sim_mix_seed(seed, 0xe7ec, 0, 0));
    e->pose.x = e->scene->start_x, e->pose.y = e->scene->start_y, e->pose.yaw = e->scene->start_yaw;
    e->steps = e->frame_no = e->done = e->stopped = e->crossed = 0;
    e->hit = SIM_HIT_NONE, e->hit_object = -1;
    e->path_len = 0, e->cross_y = 0;
    e->trail_n = 0;
    trail_add(e, e->pose.x, e->pose.y);
    return 0;
}

int sim_env_render(SimEnv *e)
{
    if (e->cfg.no_render) return mvla_fail(MVLA_ERR_ARG, "sim: render on an env made with no_render");
    uint64_t noise_seed = sim_mix_seed(e->seed, 0xf4a3e, (uint64_t)e->frame_no++, 0);
    return sim_render(e->scene, &e->pose, &e->cfg.camera, noise_seed, POLICY_BGR, e->frame, NULL);
}

int sim_env_step(SimEnv *e, const float action[3])
{
    if (e->done) return 1;
    if (policy_action_is_stop(action, POLICY_STOP_DEAD_ZONE)) {
        e->stopped = e->done = 1;
        return 1;
    }
    SimMove mv;
    SimPose before = e->pose;
    sim_robot_move(e->scene, &e->cfg.robot, &e->pose, action, e->cfg.exec_noise ? &e->exec_rng : NULL, &mv);
    e->steps++;
    e->path_len += mv.distance;
    float xm = 0.5f * (e->scene->obst_x0 + e->scene->obst_x1);
    SimPose prev = before;
    for (int i = 0; i < mv.n; i++) {
        const SimPose *p = &mv.sub[i];
        if (!e->crossed && prev.x < xm && p->x >= xm) {
            float a = (xm - prev.x) / (p->x - prev.x);
            e->crossed = 1;
            e->cross_y = prev.y + a * (p->y - prev.y);
        }
        trail_add(e, p->x, p->y);
        prev = *p;
    }
    if (mv.hit != SIM_HIT_NONE) {
        e->hit = mv.hit, e->hit_object = mv.hit_object;
        e->done = 1;
    }
    if (e->steps >= e->cfg.max_steps) e->done = 1;
    return e->done;
}

void sim_env_outcome(const SimEnv *e, SimSide side, SimOutcome *o)
{
    const SimScene *s = e->scene;
    memset(o, 0, sizeof *o);
    o->stopped = e->stopped;
    o->collision = e->hit != SIM_HIT_NONE;
    o->hit = e->hit;
    o->timeout = !e->stopped && !o->collision && e->steps >= e->cfg.max_steps;
    o->steps = e->steps;
    o->path_len = e->path_len;
    o->goal_dist = hypotf(e->pose.x - s->goal_x, e->pose.y - s->goal_y);
    float bearing = atan2f(s->target_y - e->pose.y, s->target_x - e->pose.x), err = bearing - e->pose.yaw;
    while (err > 3.14159265f) err -= 6.2831853f;
    while (err < -3.14159265f) err += 6.2831853f;
    o->heading_err_deg = fabsf(err) * 180.0f / 3.14159265f;
    o->crossed = e->crossed;
    float ym = 0.5f * (s->obst_y0 + s->obst_y1);
    o->adhered = e->crossed && (side == SIM_SIDE_LEFT ? e->cross_y > ym : e->cross_y < ym);
    o->success = (o->stopped || o->timeout) && !o->collision && o->goal_dist <= e->cfg.goal_radius &&
                 o->heading_err_deg <= e->cfg.heading_tol_deg;
}
