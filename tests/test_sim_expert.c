/* Expert driver, baselines and closed-loop evaluation: the expert succeeds in every scenario and
 * passes on the instructed side; the instruction changes its route every time; variants take
 * other routes; the baselines fail; reports (JSON, SVG) hold what the rollouts did. */
#include "base/error.h"
#include "base/file.h"
#include "base/threads.h"
#include "sim/baselines.h"
#include "sim/ceiling.h"
#include "sim/eval.h"
#include "sim/expert.h"
#include "sim/svg.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A tiny camera: these policies never look, and the eval still renders every frame. */
static SimEnv *tiny_env(void)
{
    SimConfig cfg;
    sim_config_default(&cfg);
    cfg.camera.width = 32, cfg.camera.height = 18;
    SimEnv *env = NULL;
    return sim_env_new(&env, &cfg) ? NULL : env;
}

static int eval_policy(SimEnv *env, Policy *p, int rollouts, int keep_trails, SimEvalResult *res)
{
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = rollouts, spec.seed = 2024, spec.keep_trails = keep_trails;
    return sim_eval_run(env, p, &spec, res, NULL, NULL);
}

TEST(sim_expert_succeeds_everywhere_on_the_instructed_side)
{
    SimEnv *env = tiny_env();
    REQUIRE(env);
    Policy p;
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    REQUIRE(sim_expert_policy(&p, env, &opt) == 0);
    SimEvalResult res;
    REQUIRE(eval_policy(env, &p, 2, 1, &res) == 0);
    CHECK(res.n == 8 * 3 * 2);
    SimEvalSummary s;
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    CHECK_MSG(s.success == s.n && s.adhered == s.n && s.success_on_side == s.n,
              "expert: %d/%d successes, %d adhered", s.success, s.n, s.adhered);
    CHECK(s.collision == 0 && s.timeout == 0 && s.stopped == s.n);
    CHECK_MSG(s.mean_steps > 12 && s.mean_steps < 22, "expert episodes take %.1f key presses (theirs ~17)", s.mean_steps);
    CHECK_NEAR(s.path_ratio, 1.0, 1e-6); /* the reference is the same expert on the same seed */
    CHECK_NEAR(s.spl, 1.0, 1e-6);
    /* left and right runs share their scene: the instruction alone moves the route to the other side */
    int pairs = 0, differ = 0;
    for (int i = 0; i < res.n; i++)
        for (int j = 0; j < res.n; j++) {
            const SimRollout *l = &res.r[i], *r = &res.r[j];
            if (l->side != SIM_SIDE_LEFT || r->side != SIM_SIDE_RIGHT || l->seed != r->seed) continue;
            pairs++;
            float lmax = -1e9f, rmin = 1e9f;
            for (int k = 1; k < l->trail_n; k += 2) lmax = fmaxf(lmax, l->trail[k]);
            for (int k = 1; k < r->trail_n; k += 2) rmin = fminf(rmin, r->trail[k]);
            differ += lmax - rmin > 0.8f; /* one went well left, the other well right */
        }
    CHECK(pairs == res.n / 2);
    CHECK_MSG(differ == pairs, "the route changed with the instruction in %d of %d pairs", differ, pairs);
    sim_eval_free(&res);
    policy_destroy(&p);
    sim_env_free(env);
}

/* The key sequence of one expert rollout. */
static void run_keys(SimEnv *env, Policy *p, const SimSceneSpec *sp, uint64_t seed, const char *instruction, char *keys,
                     SimOutcome *o)
{
    int n = 0;
    keys[0] = 0;
    if (sim_env_reset(env, sp, seed) || policy_reset(p, instruction)) return;
    while (!env->done && n < 62) {
        float a[3];
        policy_step(p, NULL, 0, 0, POLICY_BGR, a);
        keys[n++] = sim_expert_last_key(p);
        sim_env_step(env, a);
    }
    keys[n] = 0;
    sim_env_outcome(env, sim_expert_side(p), o);
}

/* Do keys read as runs of order's keys, one run after the other (each possibly empty), skipping the
 * keys in skip? "wawdw " is forward, slide out left, forward, slide back, forward, stop. */
static int runs_in_order(const char *keys, const char *order, const char *skip)
{
    const char *k = keys;
    for (const char *o = order; *o; o++)
        while (*k && (*k == *o || strchr(skip, *k))) k++;
    return *k == 0;
}

TEST(sim_expert_variants_take_other_valid_routes)
{
    SimConfig cfg;
    sim_config_default(&cfg);
    cfg.no_render = 1;
    SimEnv *env = NULL;
    REQUIRE(sim_env_new(&env, &cfg) == 0);
    Policy core, var;
    SimExpertOptions oc = {SIM_EXPERT_CORE, 0}, ov = {SIM_EXPERT_VARIANT, 0};
    REQUIRE(sim_expert_policy(&core, env, &oc) == 0);
    REQUIRE(sim_expert_policy(&var, env, &ov) == 0);
    int n = 0, ok = 0, differ = 0, diagonal = 0, canonical = 0, habitual = 0;
    char kc[64], kv[64];
    for (int seed = 0; seed < 5; seed++)
        for (int b = 1; b <= 2; b++)
            for (int l = 0; l < 2; l++)
                for (int d = 0; d < 3; d++)
                    for (int side = 0; side < 2; side++) {
                        SimSceneSpec sp = {b, (SimLayout)l, (SimDistance)d, SIM_LIGHT_MORNING, SIM_TARGET_CUP, 0};
                        const char *ins = sim_instruction(SIM_TARGET_CUP, (SimSide)side, "en");
                        SimOutcome oc_, ov_;
                        run_keys(env, &core, &sp, (uint64_t)seed, ins, kc, &oc_);
                        run_keys(env, &var, &sp, (uint64_t)seed, ins, kv, &ov_);
                        n++;
                        ok += oc_.success && oc_.adhered && ov_.success && ov_.adhered;
                        differ += strcmp(kc, kv) != 0;
                        diagonal += strpbrk(kv, "qe") != NULL;
                        /* core: forward, slide out, forward, slide back, forward, stop (no diagonals, no turns) */
                        const char *core_order = side == 0 ? "wawdw " : "wdwaw ";
                        canonical += strpbrk(kc, side == 0 ? "a" : "d") && runs_in_order(kc, core_order, "");
                        /* variant: the same phases, each in the driver's habit for the whole phase (diagonal
                         * or lateral out, diagonal or lateral back), glances and re-facing aside; a coin
                         * flip per step would mix forward, diagonal and lateral keys within a phase */
                        habitual += runs_in_order(kv, side == 0 ? "wqawedw " : "wedwqaw ", "rt");
                    }
    CHECK_MSG(ok == n, "core and variant both succeed on the instructed side in %d of %d", ok, n);
    CHECK_MSG(differ >= n * 3 / 4, "variant routes differ from core in %d of %d", differ, n);
    CHECK_MSG(diagonal >= n / 4, "variants used diagonal keys in %d of %d", diagonal, n);
    CHECK_MSG(canonical >= n * 9 / 10, "core followed W* %s* W* %s* W* stop in %d of %d", "A", "D", canonical, n);
    CHECK_MSG(habitual >= n * 4 / 5, "variants kept each phase's habit in %d of %d", habitual, n);
    /* an instruction naming no side still gets the expert to the target */
    SimSceneSpec sp = {2, SIM_LAYOUT_HORI, SIM_DIST_FAR, SIM_LIGHT_NIGHT, SIM_TARGET_BASKET, 0};
    SimOutcome o;
    run_keys(env, &core, &sp, 77, "컵까지 가세요", kc, &o);
    CHECK(o.success && o.stopped);
    policy_destroy(&core), policy_destroy(&var);
    sim_env_free(env);
}

TEST(sim_baselines_fail)
{
    SimEnv *env = tiny_env();
    REQUIRE(env);
    Policy fwd, rnd, blind;
    SimExpertOptions ignore = {SIM_EXPERT_CORE, 1};
    REQUIRE(sim_forward_policy(&fwd) == 0);
    REQUIRE(sim_random_policy(&rnd, 9) == 0);
    REQUIRE(sim_expert_policy(&blind, env, &ignore) == 0);
    SimEvalResult res;
    SimEvalSummary s;
    REQUIRE(eval_policy(env, &fwd, 1, 0, &res) == 0);
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    CHECK_MSG(s.success == 0 && s.collision >= s.n * 9 / 10, "forward: %d successes, %d collisions of %d", s.success,
              s.collision, s.n);
    sim_eval_free(&res);
    REQUIRE(eval_policy(env, &rnd, 2, 0, &res) == 0);
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    CHECK_MSG(s.success <= s.n / 20, "random: %d successes of %d", s.success, s.n);
    sim_eval_free(&res);
    /* the expert that ignores the instruction reaches the target, on the instructed side half the time */
    REQUIRE(eval_policy(env, &blind, 2, 0, &res) == 0);
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    CHECK(s.success == s.n);
    CHECK_MSG(s.adhered > s.n / 4 && s.adhered < s.n * 3 / 4, "instruction-blind expert adhered in %d of %d", s.adhered, s.n);
    sim_eval_free(&res);
    policy_destroy(&fwd), policy_destroy(&rnd), policy_destroy(&blind);
    sim_env_free(env);
}

/* A policy that fails on its third step. */
static int failing_reset(void *ctx, const char *instruction)
{
    (void)instruction;
    *(int *)ctx = 0;
    return 0;
}

static int failing_step(void *ctx, const uint8_t *frame, int width, int height, int order, float action[3])
{
    (void)frame, (void)order;
    if (width != 32 || height != 18) return mvla_fail(MVLA_ERR_ARG, "wrong frame size %dx%d", width, height);
    if (++*(int *)ctx == 3) return mvla_fail(MVLA_ERR_FORMAT, "model exploded");
    action[0] = 1.15f, action[1] = action[2] = 0;
    return 0;
}

TEST(sim_eval_reports_and_errors)
{
    SimEnv *env = tiny_env();
    REQUIRE(env);
    Policy p;
    SimExpertOptions opt = {SIM_EXPERT_VARIANT, 0};
    REQUIRE(sim_expert_policy(&p, env, &opt) == 0);
    SimEvalResult res;
    REQUIRE(eval_policy(env, &p, 1, 1, &res) == 0);
    char json_path[512], svg_path[512];
    snprintf(json_path, sizeof json_path, "%s/eval.json", test_tmpdir());
    snprintf(svg_path, sizeof svg_path, "%s/eval.svg", test_tmpdir());
    REQUIRE(sim_eval_write_json(&res, json_path) == 0);
    REQUIRE(sim_eval_write_svg(&res, svg_path) == 0);
    SimEvalSummary s;
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    json_error_t err;
    json_t *j = json_load_file(json_path, 0, &err);
    REQUIRE(j);
    CHECK(strcmp(json_string_value(json_object_get(j, "policy")), "expert-variant") == 0);
    CHECK_NEAR(json_real_value(json_object_get(json_object_get(j, "overall"), "success_rate")), (double)s.success / s.n, 1e-9);
    CHECK(json_array_size(json_object_get(j, "rollouts")) == (size_t)res.n);
    CHECK(json_object_size(json_object_get(j, "scenarios")) == 8 && json_object_size(json_object_get(j, "distances")) == 3);
    json_t *sc = json_object_get(json_object_get(j, "scenarios"), "2box_hori_right");
    CHECK(sc && json_integer_value(json_object_get(sc, "rollouts")) == 3);
    json_decref(j);
    char *svg = NULL;
    size_t len = 0;
    REQUIRE(file_read_all(svg_path, &svg, &len) == 0);
    int lines = 0;
    for (const char *q = svg; (q = strstr(q, "<polyline")); q++) lines++;
    CHECK(strncmp(svg, "<svg", 4) == 0 && strstr(svg, "</svg>") && lines == res.n);
    free(svg);
    sim_eval_free(&res);
    policy_destroy(&p);

    /* a policy error stops the evaluation with the policy's name and message */
    int count = 0;
    Policy bad = {"exploder", &count, failing_reset, failing_step, NULL};
    CHECK(eval_policy(env, &bad, 1, 0, &res) == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), "exploder") && strstr(mvla_error_message(), "model exploded"));
    CHECK(res.r == NULL && res.n == 0);
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = 0;
    CHECK(sim_eval_run(env, &bad, &spec, &res, NULL, NULL) == MVLA_ERR_ARG);
    sim_env_free(env);
}

/* The key oracle replays generated episodes: core episodes are the canonical route, so it predicts
 * every key (and the replay must follow the recorded trajectory exactly for that); a variant's
 * habits show only once they act, so some keys of variant episodes are not predictable. */
TEST(sim_key_ceiling_bounds_the_keys)
{
    SimConfig cfg;
    sim_config_default(&cfg);
    cfg.camera.width = 32, cfg.camera.height = 18;
    SimGenSpec g;
    sim_gen_spec_default(&g);
    g.count = 24, g.seed = 11;
    SimCeiling c;
    REQUIRE(sim_key_ceiling(&cfg, &g, 500, 0, &c, NULL, NULL) == 0);
    CHECK(c.all.episodes == 24 && c.core.episodes + c.variant.episodes == 24);
    CHECK(c.core.episodes > 0 && c.variant.episodes > 0);
    CHECK(c.all.frames == c.core.frames + c.variant.frames && c.all.frames > 24 * 12);
    CHECK(c.core.match == c.core.frames && c.core.abs_err == 0);
    double variant = (double)c.variant.match / (double)c.variant.frames;
    CHECK(variant > 0.8 && variant < 1.0);
    CHECK(c.variant.abs_err > 0);
    /* the same on one thread as on several: each rollout draws its own hypotheses */
    int threads = mvla_get_threads();
    SimCeiling one;
    mvla_set_threads(1);
    REQUIRE(sim_key_ceiling(&cfg, &g, 500, 0, &one, NULL, NULL) == 0);
    mvla_set_threads(threads);
    CHECK(one.all.match == c.all.match && one.all.frames == c.all.frames && one.all.abs_err == c.all.abs_err);

    g.variant_frac = 0;
    REQUIRE(sim_key_ceiling(&cfg, &g, 2, 0, &c, NULL, NULL) == 0);
    CHECK(c.variant.episodes == 0 && c.all.match == c.all.frames && c.all.abs_err == 0);

    /* perceiving the pose with 5 cm of error costs keys even on the canonical route, and MAE */
    REQUIRE(sim_key_ceiling(&cfg, &g, 2, 0.05f, &c, NULL, NULL) == 0);
    CHECK(c.all.match < c.all.frames && c.all.match > c.all.frames / 2 && c.all.abs_err > 0);

    CHECK(sim_key_ceiling(&cfg, &g, 1, 0, &c, NULL, NULL) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "hypotheses"));
    CHECK(sim_key_ceiling(&cfg, &g, 100, -0.1f, &c, NULL, NULL) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "hypotheses"));
    g.count = 0;
    CHECK(sim_key_ceiling(&cfg, &g, 100, 0, &c, NULL, NULL) == MVLA_ERR_ARG);
}
