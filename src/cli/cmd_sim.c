/* mvla sim <generate|ceiling|eval|snapshot>: the built-in simulator of the Mobile VLA task.
 *   generate  expert episodes in the collector's HDF5 format
 *   ceiling   the key match and MAE no policy can beat on such episodes (sim/ceiling.h)
 *   eval      closed-loop evaluation of a policy over the scenario grid (table, JSON, SVG)
 *   snapshot  PNG strips of what the camera sees, one per lighting preset */
#include "cli/commands.h"

#include "base/error.h"
#include "base/file.h"
#include "base/progress.h"
#include "runtime/model_policy.h"
#include "sim/baselines.h"
#include "sim/ceiling.h"
#include "sim/eval.h"
#include "sim/expert.h"
#include "sim/generate.h"
#include "sim/svg.h"

#include <errno.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void sim_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla sim <generate|ceiling|eval|snapshot> [options]\n\n"
            "  mvla sim generate -o DIR [-n N] [options]   N expert episodes (default 24), balanced over the 24\n"
            "                                              scenario x side x distance cells and the lightings\n"
            "      --variant-frac F     share of 'variant' episodes (default 0.5; the rest 'core')\n"
            "      --learner FILE       DAgger: this trained model drives (a checkpoint or model file), the\n"
            "                           expert labels every frame with its key for the state reached\n"
            "      --expert-prob P      DAgger: chance per step that the expert drives instead (default 0.5)\n"
            "  mvla sim ceiling [-n N] [--variant-frac F]  the key match and MAE that no policy can beat on the\n"
            "                                              episodes generate makes with the same -n, --seed and\n"
            "                                              --variant-frac: an oracle that knows the true state and\n"
            "                                              the keys so far, but not a variant driver's habits\n"
            "      --hypotheses H       habit sets the oracle weighs (default 2000)\n"
            "      --pose-noise M       the oracle perceives x and y with this Gaussian error (m; default 0):\n"
            "                           the ceiling of a policy that judges its position only that well\n"
            "  mvla sim eval [--policy P | --model FILE] [--rollouts R] [--json OUT] [--svg OUT] [options]\n"
            "      --policy P           expert (default), expert-variant, expert-no-instruction, forward, random\n"
            "      --model FILE         a trained model: a checkpoint of mvla train or a model file of mvla export\n"
            "                           (the student or a CLIP head): the policy under test\n"
            "      --rollouts R         rollouts per scenario x side x distance cell (default 4)\n"
            "      --max-steps N        key presses before a timeout (default 40)\n"
            "  mvla sim snapshot -o DIR [options]          DIR/<lighting>.png: frames of one expert episode\n"
            "      --boxes 1|2 --layout vert|hori --distance close|medium|far --side left|right\n\n"
            "common options:\n"
            "  --seed S               everything follows from it (default 1)\n"
            "  --size WxH             camera image size (default %dx%d; the robot's camera is 1280x720;\n"
            "                         snapshot default 320x180)\n"
            "  --lighting L           dawn, morning, evening, night, or mixed (default: balanced / in turn)\n"
            "  --target T             cup, bottle, basket, or mixed (default: cup for generate, mixed for eval)\n"
            "  --distractors N        up to N distractor objects per scene (0..3, default 0)\n"
            "  --lang en|ko           instruction language (default en)\n"
            "  --speed-scale X        metres per key press = 0.46 x X (default 0.5)\n",
            SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
}

typedef struct {
    const char *out, *json, *svg, *policy, *model, *learner, *lang;
    long count, rollouts, max_steps, distractors, hypotheses;
    unsigned long long seed;
    int width, height, lighting, target, target_set;
    float variant_frac, speed_scale, expert_prob, pose_noise;
    int boxes, layout, distance, side;
} SimArgs;

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    float v = s ? strtof(s, &end) : 0;
    if (!s || !*s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int bad(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "mvla: sim: %s '%s': expected %s\n", opt, v ? v : "", want);
    return 2;
}

/* Parses argv[2..]; returns 0, or an exit code (printing the reason). */
static int parse_args(int argc, char **argv, SimArgs *a)
{
    memset(a, 0, sizeof *a);
    a->count = 24, a->rollouts = 4, a->max_steps = 40, a->seed = 1, a->hypotheses = 2000;
    a->lighting = -1, a->target = -1, a->variant_frac = 0.5f, a->expert_prob = 0.5f, a->speed_scale = 0.5f, a->lang = "en";
    a->policy = "expert";
    a->boxes = 1, a->layout = SIM_LAYOUT_VERT, a->distance = SIM_DIST_MEDIUM, a->side = SIM_SIDE_LEFT;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            sim_usage(stdout);
            return -1;
        }
        if (!v) {
            fprintf(stderr, "mvla: sim: %s needs a value (see mvla sim --help)\n", o);
            return 2;
        }
        i++;
        if (strcmp(o, "-o") == 0 || strcmp(o, "--out") == 0) a->out = v;
        else if (strcmp(o, "--json") == 0) a->json = v;
        else if (strcmp(o, "--svg") == 0) a->svg = v;
        else if (strcmp(o, "--policy") == 0) a->policy = v;
        else if (strcmp(o, "--model") == 0) a->model = v;
        else if (strcmp(o, "--learner") == 0) a->learner = v;
        else if (strcmp(o, "--expert-prob") == 0) {
            if (parse_float(v, 0, 1, &a->expert_prob)) return bad(o, v, "a number in [0, 1]");
        }
        else if (strcmp(o, "-n") == 0 || strcmp(o, "--count") == 0) {
            if (parse_long(v, 0, 10000000, &a->count)) return bad(o, v, "a count 0..10000000");
        } else if (strcmp(o, "--pose-noise") == 0) {
            if (parse_float(v, 0, 1, &a->pose_noise)) return bad(o, v, "metres in [0, 1]");
        } else if (strcmp(o, "--hypotheses") == 0) {
            if (parse_long(v, 2, 1000000, &a->hypotheses)) return bad(o, v, "a count 2..1000000");
        } else if (strcmp(o, "--rollouts") == 0) {
            if (parse_long(v, 1, 100000, &a->rollouts)) return bad(o, v, "a count 1..100000");
        } else if (strcmp(o, "--max-steps") == 0) {
            if (parse_long(v, 1, 64, &a->max_steps)) return bad(o, v, "1..64");
        } else if (strcmp(o, "--distractors") == 0) {
            if (parse_long(v, 0, SIM_MAX_DISTRACTORS, &a->distractors)) return bad(o, v, "0..3");
        } else if (strcmp(o, "--seed") == 0) {
            char *end;
            errno = 0;
            a->seed = strtoull(v, &end, 10);
            if (!*v || *end || errno || v[0] == '-') return bad(o, v, "a non-negative integer");
        } else if (strcmp(o, "--size") == 0) {
            if (sscanf(v, "%dx%d", &a->width, &a->height) != 2 || a->width < 8 || a->height < 8 || a->width > 8192 ||
                a->height > 8192)
                return bad(o, v, "WxH with 8..8192 pixels a side, e.g. 1280x720");
        } else if (strcmp(o, "--lighting") == 0) {
            a->lighting = strcmp(v, "mixed") == 0 ? -1 : sim_lighting_parse(v);
            if (a->lighting < 0 && strcmp(v, "mixed") != 0) return bad(o, v, "dawn, morning, evening, night or mixed");
        } else if (strcmp(o, "--target") == 0) {
            a->target = strcmp(v, "mixed") == 0 ? -1 : sim_target_parse(v);
            if (a->target < 0 && strcmp(v, "mixed") != 0) return bad(o, v, "cup, bottle, basket or mixed");
            a->target_set = 1;
        } else if (strcmp(o, "--variant-frac") == 0) {
            if (parse_float(v, 0, 1, &a->variant_frac)) return bad(o, v, "a number in [0, 1]");
        } else if (strcmp(o, "--speed-scale") == 0) {
            if (parse_float(v, 0.05f, 4, &a->speed_scale)) return bad(o, v, "a number in [0.05, 4]");
        } else if (strcmp(o, "--lang") == 0) {
            if (strcmp(v, "en") != 0 && strcmp(v, "ko") != 0) return bad(o, v, "en or ko");
            a->lang = v;
        } else if (strcmp(o, "--boxes") == 0) {
            if (parse_long(v, 1, 2, &n)) return bad(o, v, "1 or 2");
            a->boxes = (int)n;
        } else if (strcmp(o, "--layout") == 0) {
            if ((a->layout = sim_layout_parse(v)) < 0) return bad(o, v, "vert or hori");
        } else if (strcmp(o, "--distance") == 0) {
            if ((a->distance = sim_distance_parse(v)) < 0) return bad(o, v, "close, medium or far");
        } else if (strcmp(o, "--side") == 0) {
            if ((a->side = sim_side_parse(v)) < 0) return bad(o, v, "left or right");
        } else {
            fprintf(stderr, "mvla: sim: unknown option '%s' (see mvla sim --help)\n", o);
            return 2;
        }
    }
    return 0;
}

static void config_from(const SimArgs *a, SimConfig *cfg, int def_w, int def_h)
{
    sim_config_default(cfg);
    cfg->camera.width = a->width ? a->width : def_w;
    cfg->camera.height = a->height ? a->height : def_h;
    cfg->robot.speed_scale = a->speed_scale;
    cfg->max_steps = (int)a->max_steps;
}

static void on_progress(void *user, int done, int total)
{
    (void)total;
    progress_update(user, done, NULL);
}

/* Each generating thread opens its own copy of the learner (a policy handle is single-threaded). */
static int open_learner(Policy *out, void *path) { return model_policy_open(out, path); }

/* The episodes `sim generate` makes from these options (ceiling replays the same ones). */
static void gen_spec_from(const SimArgs *a, SimGenSpec *g)
{
    sim_gen_spec_default(g);
    g->count = (int)a->count, g->seed = a->seed, g->lighting = a->lighting;
    g->target = a->target_set ? a->target : SIM_TARGET_CUP;
    g->distractors = (int)a->distractors, g->variant_frac = a->variant_frac, g->lang = a->lang;
}

static int sim_generate_main(const SimArgs *a)
{
    if (!a->out) {
        fprintf(stderr, "mvla: sim generate: -o DIR is required\n");
        return 2;
    }
    SimConfig cfg;
    config_from(a, &cfg, SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
    SimGenSpec g;
    gen_spec_from(a, &g);
    if (a->learner) g.open_learner = open_learner, g.learner_user = (void *)a->learner, g.expert_prob = a->expert_prob;
    Progress p;
    progress_start(&p, "generate", g.count, "episode");
    int rc = sim_generate(a->out, &cfg, &g, on_progress, &p);
    progress_finish(&p);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    printf("%d episodes (%dx%d) in %s\n", g.count, cfg.camera.width, cfg.camera.height, a->out);
    return 0;
}

static void print_ceiling_row(const char *name, const SimCeilingCount *c)
{
    double n = c->frames ? (double)c->frames : 1;
    printf("%-10s %8d %7ld %10.1f%% %10.4f\n", name, c->episodes, c->frames, 100.0 * (double)c->match / n, c->abs_err / n);
}

static int sim_ceiling_main(const SimArgs *a)
{
    SimConfig cfg;
    config_from(a, &cfg, SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
    SimGenSpec g;
    gen_spec_from(a, &g);
    SimCeiling c;
    Progress p;
    progress_start(&p, "ceiling", g.count, "episode");
    int rc = sim_key_ceiling(&cfg, &g, (int)a->hypotheses, a->pose_noise, &c, on_progress, &p);
    progress_finish(&p);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    printf("key-match ceiling of %d generated episodes (seed %llu, variant fraction %.2f, %ld hypotheses): an oracle\n"
           "that knows the true state%s and the keys so far, but not a variant driver's habits, predicts each\n"
           "key from frame 1 on (as mvla eval scores); MAE is its per-axis median guess (raw units)\n\n",
           g.count, (unsigned long long)g.seed, g.variant_frac, a->hypotheses, a->pose_noise > 0 ? " (its x, y with noise)" : "");
    if (a->pose_noise > 0) printf("pose noise: %.3f m per axis, drawn anew at every frame\n\n", a->pose_noise);
    printf("%-10s %8s %7s %11s %10s\n", "episodes", "n", "frames", "key match", "MAE");
    print_ceiling_row("core", &c.core);
    print_ceiling_row("variant", &c.variant);
    print_ceiling_row("all", &c.all);
    return 0;
}

static void print_row(const char *name, const SimEvalSummary *s)
{
    double n = s->n ? s->n : 1;
    printf("%-16s %5d  %6.1f%%  %6.1f%%  %8.1f%%  %6.1f%%  %8.1f%%  %5.1f  %10.2f  %5.2f\n", name, s->n,
           100 * s->success / n, 100 * s->success_on_side / n, 100 * s->collision / n, 100 * s->timeout / n,
           100 * s->adhered / n, s->mean_steps, s->path_ratio, s->spl);
}

static void print_table(const SimEvalResult *r)
{
    SimEvalSummary s;
    printf("policy %s: 8 scenarios x 3 distances x %d rollouts = %d rollouts at %dx%d, seed %llu\n", r->policy,
           r->spec.rollouts, r->n, r->cfg.camera.width, r->cfg.camera.height, (unsigned long long)r->spec.seed);
    printf("%.2f s, %ld frames (%.0f frames/s including the policy)\n", r->seconds, r->frames,
           r->seconds > 0 ? r->frames / r->seconds : 0);
    printf("success: stopped within %.2f m of the goal facing the target (%.0f deg); on-side: success after passing the\n"
           "obstacles on the instructed side; adherence: passed on the instructed side; path/expert: over successes\n\n",
           r->cfg.goal_radius, r->cfg.heading_tol_deg);
    printf("%-16s %5s  %7s  %7s  %9s  %7s  %9s  %5s  %10s  %5s\n", "scenario", "n", "success", "on-side", "collision",
           "timeout", "adherence", "steps", "path/expert", "SPL");
    for (int k = 0; k < SIM_SCENARIO_COUNT; k++) {
        char name[48];
        sim_eval_summarize_scenario(r, k, name, sizeof name, &s);
        print_row(name, &s);
    }
    printf("\n");
    for (int d = 0; d < SIM_DIST_COUNT; d++) {
        sim_eval_summarize(r, -1, -1, -1, d, &s);
        print_row(sim_distance_name((SimDistance)d), &s);
    }
    sim_eval_summarize(r, -1, -1, -1, -1, &s);
    printf("\n");
    print_row("overall", &s);
}

static int make_policy(const SimArgs *a, SimEnv *env, Policy *p)
{
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    if (a->model) return model_policy_open(p, a->model);
    if (strcmp(a->policy, "expert") == 0) return sim_expert_policy(p, env, &opt);
    if (strcmp(a->policy, "expert-variant") == 0) {
        opt.style = SIM_EXPERT_VARIANT;
        return sim_expert_policy(p, env, &opt);
    }
    if (strcmp(a->policy, "expert-no-instruction") == 0) {
        opt.ignore_instruction = 1;
        return sim_expert_policy(p, env, &opt);
    }
    if (strcmp(a->policy, "forward") == 0) return sim_forward_policy(p);
    if (strcmp(a->policy, "random") == 0) return sim_random_policy(p, a->seed);
    return mvla_fail(MVLA_ERR_ARG, "sim eval: --policy '%s': expected expert, expert-variant, expert-no-instruction, "
                                   "forward or random", a->policy);
}

static int sim_eval_main(const SimArgs *a)
{
    SimConfig cfg;
    config_from(a, &cfg, SIM_DEFAULT_WIDTH, SIM_DEFAULT_HEIGHT);
    SimEnv *env = NULL;
    Policy policy = {0};
    SimEvalResult res = {0};
    int rc = sim_env_new(&env, &cfg);
    if (!rc) rc = make_policy(a, env, &policy);
    if (!rc) {
        SimEvalSpec spec;
        sim_eval_spec_default(&spec);
        spec.rollouts = (int)a->rollouts, spec.seed = a->seed, spec.lighting = a->lighting;
        spec.target = a->target_set ? a->target : -1;
        spec.distractors = (int)a->distractors, spec.lang = a->lang, spec.keep_trails = a->svg != NULL;
        Progress p;
        progress_start(&p, "eval", 24 * a->rollouts, "rollout");
        rc = sim_eval_run(env, &policy, &spec, &res, on_progress, &p);
        progress_finish(&p);
    }
    if (!rc) {
        print_table(&res);
        if (a->json && !(rc = sim_eval_write_json(&res, a->json))) printf("\nwrote %s\n", a->json);
        if (!rc && a->svg && !(rc = sim_eval_write_svg(&res, a->svg))) printf("wrote %s\n", a->svg);
    }
    sim_eval_free(&res);
    policy_destroy(&policy);
    sim_env_free(env);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    return 0;
}

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int oom;
} PngBuf;

static void png_sink(void *ctx, void *data, int size)
{
    PngBuf *b = ctx;
    if (b->oom || size <= 0) return;
    if (b->len + (size_t)size > b->cap) {
        size_t cap = (b->len + (size_t)size) * 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, data, (size_t)size);
    b->len += (size_t)size;
}

/* Writes an RGB image as PNG, atomically. */
static int write_png(const char *path, const uint8_t *rgb, int w, int h)
{
    PngBuf b = {0};
    if (!stbi_write_png_to_func(png_sink, &b, w, h, 3, rgb, w * 3) || b.oom) {
        free(b.data);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: cannot encode PNG", path);
    }
    int rc = file_write_atomic(path, b.data, b.len);
    free(b.data);
    return rc;
}

/* One expert episode per lighting; frames 0, 1/3, 2/3 and the last side by side. */
static int sim_snapshot_main(const SimArgs *a)
{
    if (!a->out) {
        fprintf(stderr, "mvla: sim snapshot: -o DIR is required\n");
        return 2;
    }
    if (mkdir(a->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "mvla: %s: cannot create directory: %s\n", a->out, strerror(errno));
        return 1;
    }
    SimConfig cfg;
    config_from(a, &cfg, 320, 180);
    const int W = cfg.camera.width, H = cfg.camera.height, shots = 4;
    SimEnv *env = NULL;
    Policy expert = {0};
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    uint8_t *frames = malloc((size_t)(cfg.max_steps + 1) * W * H * 3), *strip = malloc((size_t)shots * W * H * 3);
    int rc = frames && strip ? 0 : mvla_fail(MVLA_ERR_NOMEM, "sim snapshot: out of memory");
    if (!rc) rc = sim_env_new(&env, &cfg);
    if (!rc) rc = sim_expert_policy(&expert, env, &opt);
    for (int l = (a->lighting >= 0 ? a->lighting : 0); !rc && l < (a->lighting >= 0 ? a->lighting + 1 : SIM_LIGHT_COUNT); l++) {
        SimSceneSpec sp = {a->boxes, (SimLayout)a->layout, (SimDistance)a->distance, (SimLighting)l,
                           (SimTarget)(a->target_set && a->target >= 0 ? a->target : l % SIM_TARGET_COUNT), (int)a->distractors};
        if ((rc = sim_env_reset(env, &sp, sim_mix_seed(a->seed, (uint64_t)l, 0x5a, 0)))) break;
        policy_reset(&expert, sim_instruction(sp.target, (SimSide)a->side, a->lang));
        int n = 0;
        while (!env->done && !rc) {
            if ((rc = sim_env_render(env))) break;
            memcpy(frames + (size_t)n++ * W * H * 3, env->frame, (size_t)W * H * 3);
            float act[3];
            policy_step(&expert, env->frame, W, H, POLICY_BGR, act);
            sim_env_step(env, act);
        }
        if (rc) break;
        for (int s = 0; s < shots; s++) {
            const uint8_t *f = frames + (size_t)((n - 1) * s / (shots - 1)) * W * H * 3;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    const uint8_t *src = f + ((size_t)y * W + x) * 3;
                    uint8_t *dst = strip + ((size_t)y * W * shots + (size_t)s * W + x) * 3;
                    dst[0] = src[2], dst[1] = src[1], dst[2] = src[0]; /* BGR -> RGB */
                }
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.png", a->out, sim_lighting_name((SimLighting)l));
        if (!(rc = write_png(path, strip, W * shots, H))) printf("wrote %s (%d frames of %d)\n", path, shots, n);
    }
    policy_destroy(&expert);
    sim_env_free(env);
    free(frames);
    free(strip);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    return 0;
}

int cmd_sim(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        sim_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    SimArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (strcmp(argv[1], "generate") == 0) return sim_generate_main(&a);
    if (strcmp(argv[1], "ceiling") == 0) return sim_ceiling_main(&a);
    if (strcmp(argv[1], "eval") == 0) return sim_eval_main(&a);
    if (strcmp(argv[1], "snapshot") == 0) return sim_snapshot_main(&a);
    fprintf(stderr, "mvla: sim: unknown subcommand '%s' (generate, ceiling, eval, snapshot)\n", argv[1]);
    return 2;
}
