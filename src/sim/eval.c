/* Closed-loop evaluation over the scenario grid (see eval.h). */
#include "sim/eval.h"

#include "base/error.h"
#include "base/file.h"
#include "base/progress.h"
#include "sim/expert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_eval_spec_default(SimEvalSpec *s)
{
    memset(s, 0, sizeof *s);
    s->rollouts = 4;
    s->seed = 1;
    s->lighting = -1;
    s->target = -1;
    s->lang = "en";
}

/* The core expert's path length on this rollout, or 0 if it fails there. */
static int expert_reference(SimEnv *env, Policy *expert, const SimSceneSpec *sp, uint64_t seed, SimSide side,
                            float *len)
{
    int rc = sim_env_reset(env, sp, seed);
    if (rc) return rc;
    policy_reset(expert, sim_instruction(sp->target, side, "en"));
    while (!env->done) {
        float a[3];
        policy_step(expert, NULL, 0, 0, POLICY_BGR, a);
        sim_env_step(env, a);
    }
    SimOutcome o;
    sim_env_outcome(env, side, &o);
    *len = o.success ? o.path_len : 0;
    return 0;
}

int sim_eval_run(SimEnv *env, Policy *policy, const SimEvalSpec *spec, SimEvalResult *out, SimEvalProgress progress,
                 void *user)
{
    memset(out, 0, sizeof *out);
    if (spec->rollouts < 1 || spec->rollouts > 100000 || spec->lighting >= SIM_LIGHT_COUNT ||
        spec->target >= SIM_TARGET_COUNT || spec->distractors < 0 || spec->distractors > SIM_MAX_DISTRACTORS)
        return mvla_fail(MVLA_ERR_ARG, "sim eval: rollouts 1..100000, lighting/target in range or -1, distractors "
                                       "0..%d expected", SIM_MAX_DISTRACTORS);
    const int cells = 2 * SIM_LAYOUT_COUNT * SIM_SIDE_COUNT * SIM_DIST_COUNT;
    out->n = cells * spec->rollouts;
    out->r = calloc((size_t)out->n, sizeof *out->r);
    if (!out->r) return mvla_fail(MVLA_ERR_NOMEM, "sim eval: out of memory for %d rollouts", out->n);
    snprintf(out->policy, sizeof out->policy, "%s", policy->name ? policy->name : "policy");
    out->spec = *spec;
    out->cfg = env->cfg;
    const char *lang = spec->lang ? spec->lang : "en";
    SimEnv *ref_env = NULL;
    Policy ref = {0};
    SimConfig ref_cfg = env->cfg;
    ref_cfg.no_render = 1;
    int rc = sim_env_new(&ref_env, &ref_cfg);
    SimExpertOptions core = {SIM_EXPERT_CORE, 0};
    if (!rc) rc = sim_expert_policy(&ref, ref_env, &core);
    double start = time_now();
    int k = 0;
    for (int boxes = 1; boxes <= 2 && !rc; boxes++)
        for (int layout = 0; layout < SIM_LAYOUT_COUNT && !rc; layout++)
            for (int side = 0; side < SIM_SIDE_COUNT && !rc; side++)
                for (int dist = 0; dist < SIM_DIST_COUNT && !rc; dist++)
                    for (int i = 0; i < spec->rollouts && !rc; i++, k++) {
                        SimRollout *ro = &out->r[k];
                        SimSceneSpec sp = {boxes, (SimLayout)layout, (SimDistance)dist,
                                           (SimLighting)(spec->lighting >= 0 ? spec->lighting : (i + dist + layout) % SIM_LIGHT_COUNT),
                                           (SimTarget)(spec->target >= 0 ? spec->target : (i + boxes) % SIM_TARGET_COUNT),
                                           spec->distractors};
                        ro->scene = sp, ro->side = (SimSide)side, ro->index = i;
                        ro->seed = sim_mix_seed(spec->seed, (uint64_t)(boxes * 2 + layout), (uint64_t)dist, (uint64_t)i);
                        if ((rc = sim_env_reset(env, &sp, ro->seed))) break;
                        if ((rc = policy_reset(policy, sim_instruction(sp.target, (SimSide)side, lang)))) break;
                        while (!env->done) {
                            if ((rc = sim_env_render(env))) break;
                            out->frames++;
                            float a[3];
                            if ((rc = policy_step(policy, env->frame, env->cfg.camera.width, env->cfg.camera.height,
                                                  POLICY_BGR, a)))
                                break;
                            sim_env_step(env, a);
                        }
                        if (rc) break;
                        sim_env_outcome(env, (SimSide)side, &ro->out);
                        if (spec->keep_trails && env->trail_n > 0) {
                            ro->trail = malloc((size_t)env->trail_n * sizeof *ro->trail);
                            if (!ro->trail) {
                                rc = mvla_fail(MVLA_ERR_NOMEM, "sim eval: out of memory for trails");
                                break;
                            }
                            memcpy(ro->trail, env->trail, (size_t)env->trail_n * sizeof *ro->trail);
                            ro->trail_n = env->trail_n;
                        }
                        if ((rc = expert_reference(ref_env, &ref, &sp, ro->seed, (SimSide)side, &ro->expert_len))) break;
                        if (progress) progress(user, k + 1, out->n);
                    }
    out->seconds = time_now() - start;
    policy_destroy(&ref);
    sim_env_free(ref_env);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mvla_error_message());
        sim_eval_free(out);
        return mvla_fail(rc, "sim eval: policy '%s': %s", policy->name ? policy->name : "policy", msg);
    }
    return 0;
}

void sim_eval_free(SimEvalResult *r)
{
    if (!r) return;
    for (int i = 0; r->r && i < r->n; i++) free(r->r[i].trail);
    free(r->r);
    r->r = NULL;
    r->n = 0;
}

void sim_eval_summarize(const SimEvalResult *r, int boxes, int layout, int side, int distance, SimEvalSummary *s)
{
    memset(s, 0, sizeof *s);
    double steps = 0, ratio = 0, spl = 0;
    int ratio_n = 0;
    for (int i = 0; i < r->n; i++) {
        const SimRollout *ro = &r->r[i];
        if ((boxes >= 0 && ro->scene.boxes != boxes) || (layout >= 0 && (int)ro->scene.layout != layout) ||
            (side >= 0 && (int)ro->side != side) || (distance >= 0 && (int)ro->scene.distance != distance))
            continue;
        const SimOutcome *o = &ro->out;
        s->n++;
        s->success += o->success, s->collision += o->collision, s->timeout += o->timeout;
        s->stopped += o->stopped, s->crossed += o->crossed, s->adhered += o->adhered;
        s->success_on_side += o->success && o->adhered;
        steps += o->steps;
        if (o->success && ro->expert_len > 0) {
            ratio += o->path_len / ro->expert_len, ratio_n++;
            spl += ro->expert_len / (o->path_len > ro->expert_len ? o->path_len : ro->expert_len);
        }
    }
    if (s->n) s->mean_steps = steps / s->n, s->spl = spl / s->n;
    if (ratio_n) s->path_ratio = ratio / ratio_n;
}

void sim_eval_summarize_scenario(const SimEvalResult *r, int k, char *name, int name_len, SimEvalSummary *s)
{
    int boxes = 1 + k / (SIM_LAYOUT_COUNT * SIM_SIDE_COUNT), layout = k / SIM_SIDE_COUNT % SIM_LAYOUT_COUNT,
        side = k % SIM_SIDE_COUNT;
    sim_scenario_text(boxes, (SimLayout)layout, (SimSide)side, name, name_len);
    sim_eval_summarize(r, boxes, layout, side, -1, s);
}

static json_t *summary_json(const SimEvalSummary *s)
{
    json_t *j = json_object();
    double n = s->n ? s->n : 1;
    json_object_set_new(j, "rollouts", json_integer(s->n));
    json_object_set_new(j, "success_rate", json_real(s->success / n));
    json_object_set_new(j, "success_on_instructed_side", json_real(s->success_on_side / n));
    json_object_set_new(j, "collision_rate", json_real(s->collision / n));
    json_object_set_new(j, "timeout_rate", json_real(s->timeout / n));
    json_object_set_new(j, "adherence", json_real(s->adhered / n));
    json_object_set_new(j, "passed_obstacles", json_real(s->crossed / n));
    json_object_set_new(j, "mean_steps", json_real(s->mean_steps));
    json_object_set_new(j, "path_ratio", json_real(s->path_ratio));
    json_object_set_new(j, "spl", json_real(s->spl));
    return j;
}

int sim_eval_write_json(const SimEvalResult *r, const char *path)
{
    json_t *root = json_object(), *scen = json_object(), *dists = json_object(), *rolls = json_array();
    SimEvalSummary s;
    json_object_set_new(root, "policy", json_string(r->policy));
    json_object_set_new(root, "seed", json_integer((json_int_t)r->spec.seed));
    json_object_set_new(root, "rollouts_per_cell", json_integer(r->spec.rollouts));
    json_object_set_new(root, "width", json_integer(r->cfg.camera.width));
    json_object_set_new(root, "height", json_integer(r->cfg.camera.height));
    json_object_set_new(root, "max_steps", json_integer(r->cfg.max_steps));
    json_object_set_new(root, "goal_radius_m", json_real(r->cfg.goal_radius));
    json_object_set_new(root, "heading_tolerance_deg", json_real(r->cfg.heading_tol_deg));
    json_object_set_new(root, "speed_scale", json_real(r->cfg.robot.speed_scale));
    json_object_set_new(root, "frames", json_integer(r->frames));
    json_object_set_new(root, "seconds", json_real(r->seconds));
    sim_eval_summarize(r, -1, -1, -1, -1, &s);
    json_object_set_new(root, "overall", summary_json(&s));
    for (int k = 0; k < SIM_SCENARIO_COUNT; k++) {
        char name[48];
        sim_eval_summarize_scenario(r, k, name, sizeof name, &s);
        json_object_set_new(scen, name, summary_json(&s));
    }
    json_object_set_new(root, "scenarios", scen);
    for (int d = 0; d < SIM_DIST_COUNT; d++) {
        sim_eval_summarize(r, -1, -1, -1, d, &s);
        json_object_set_new(dists, sim_distance_name((SimDistance)d), summary_json(&s));
    }
    json_object_set_new(root, "distances", dists);
    for (int i = 0; i < r->n; i++) {
        const SimRollout *ro = &r->r[i];
        json_t *j = json_object();
        char name[48];
        sim_scenario_text(ro->scene.boxes, ro->scene.layout, ro->side, name, sizeof name);
        json_object_set_new(j, "scenario", json_string(name));
        json_object_set_new(j, "distance", json_string(sim_distance_name(ro->scene.distance)));
        json_object_set_new(j, "lighting", json_string(sim_lighting_name(ro->scene.lighting)));
        json_object_set_new(j, "target", json_string(sim_target_name(ro->scene.target)));
        json_object_set_new(j, "index", json_integer(ro->index));
        char seed[24];
        snprintf(seed, sizeof seed, "%016llx", (unsigned long long)ro->seed);
        json_object_set_new(j, "seed", json_string(seed));
        json_object_set_new(j, "success", json_boolean(ro->out.success));
        json_object_set_new(j, "stopped", json_boolean(ro->out.stopped));
        json_object_set_new(j, "collision", json_string(sim_hit_name(ro->out.hit)));
        json_object_set_new(j, "timeout", json_boolean(ro->out.timeout));
        json_object_set_new(j, "adhered", json_boolean(ro->out.adhered));
        json_object_set_new(j, "steps", json_integer(ro->out.steps));
        json_object_set_new(j, "path_m", json_real(ro->out.path_len));
        json_object_set_new(j, "expert_path_m", json_real(ro->expert_len));
        json_object_set_new(j, "goal_distance_m", json_real(ro->out.goal_dist));
        json_object_set_new(j, "heading_error_deg", json_real(ro->out.heading_err_deg));
        json_array_append_new(rolls, j);
    }
    json_object_set_new(root, "rollouts", rolls);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for the JSON report", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for the NUL; write the newline in its place */
    int rc = file_write_atomic(path, text, len + 1);
    free(text);
    return rc;
}
