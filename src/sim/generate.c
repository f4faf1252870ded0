/* Episode generation with the expert (see generate.h). */
#include "sim/generate.h"

#include "base/error.h"
#include "io/episode.h"
#include "sim/expert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CELLS 24 /* {1box,2box} x {vert,hori} x {left,right} x {close,medium,far} */
#define MAX_TRIES 8

static char ev_start[] = "episode_start", ev_action[] = "start_action", ev_stop[] = "stop_action";

void sim_gen_spec_default(SimGenSpec *g)
{
    memset(g, 0, sizeof *g);
    g->count = 24;
    g->seed = 1;
    g->lighting = -1;
    g->target = SIM_TARGET_CUP;
    g->variant_frac = 0.5f;
    g->lang = "en";
    g->expert_prob = 0.5f;
}

void sim_episode_free(SimEpisode *ep)
{
    free(ep->frames);
    free(ep->actions);
    ep->frames = NULL;
    ep->actions = NULL;
}

/* Name, time stamp and duration: deterministic, and consistent with the lighting. */
static void episode_stamp(SimEpisode *ep, const SimGenSpec *g, int index, int dagger, Rng *r)
{
    static const int hour_lo[SIM_LIGHT_COUNT] = {5, 8, 17, 20}, hour_n[SIM_LIGHT_COUNT] = {2, 4, 3, 4};
    struct tm base = {0};
    base.tm_year = 2025 - 1900, base.tm_mon = 5, base.tm_mday = 2;
    int l = ep->scene.lighting;
    ep->hour = hour_lo[l] + (int)rng_below(r, (uint32_t)hour_n[l]);
    ep->minute = (int)rng_below(r, 60);
    int second = (int)rng_below(r, 60);
    time_t t = timegm(&base) + (time_t)(index / CELLS) * 86400 + ep->hour * 3600 + ep->minute * 60 + second;
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    strftime(ep->datetime, sizeof ep->datetime, "%Y-%m-%dT%H:%M:%S", &tm);
    const char *prefix = ep->scene.target == SIM_TARGET_BOTTLE ? "bottle_" : ep->scene.target == SIM_TARGET_BASKET ? "basket_" : "";
    char light[16] = "";
    if (l != SIM_LIGHT_MORNING) snprintf(light, sizeof light, "_%s", sim_lighting_name((SimLighting)l));
    snprintf(ep->name, sizeof ep->name, "%sepisode_%s_%dbox_%s_%s_%s_%s%s%s", prefix, stamp, ep->scene.boxes,
             sim_layout_name(ep->scene.layout), sim_side_name(ep->side), ep->variant ? "variant" : "core",
             sim_distance_name(ep->scene.distance), light, dagger ? "_dagger" : "");
    /* 0.4 s per key plus the operator's pause before the next one */
    ep->duration = 0;
    for (int k = 1; k < ep->num_frames; k++) ep->duration += 0.4 + 0.25 + 0.65 * rng_uniform(r);
    (void)g;
}

/* One rollout into ep, labelled by the expert; the learner (NULL: none) drives except with probability
 * expert_prob per step. Returns 1 if the rollout succeeded, 0 if not, <0 on error (rc in *err). */
static int rollout(SimEnv *env, Policy *expert, Policy *learner, float expert_prob, Rng *mix, SimEpisode *ep,
                   int *err)
{
    const int W = env->cfg.camera.width, H = env->cfg.camera.height;
    const size_t frame_bytes = (size_t)W * H * 3;
    int t = 0, rc;
    if ((rc = sim_env_reset(env, &ep->scene, ep->seed)) || (rc = policy_reset(expert, ep->instruction)) ||
        (learner && (rc = policy_reset(learner, ep->instruction)))) {
        *err = rc;
        return -1;
    }
    /* frame 0: episode_start, zero action */
    if ((rc = sim_env_render(env))) {
        *err = rc;
        return -1;
    }
    memcpy(ep->frames, env->frame, frame_bytes);
    memset(ep->actions, 0, 3 * sizeof *ep->actions);
    ep->events[t++] = ev_start;
    while (!env->done) {
        if ((rc = sim_env_render(env))) {
            *err = rc;
            return -1;
        }
        float a[3], b[3];
        policy_step(expert, env->frame, W, H, POLICY_BGR, a);
        const float *drive = a;
        if (learner && rng_uniform(mix) >= expert_prob) {
            if ((rc = policy_step(learner, env->frame, W, H, POLICY_BGR, b))) {
                *err = rc;
                return -1;
            }
            drive = b;
        }
        memcpy(ep->frames + (size_t)t * frame_bytes, env->frame, frame_bytes);
        memcpy(ep->actions + (size_t)t * 3, a, sizeof a);
        ep->events[t++] = policy_action_is_stop(a, POLICY_STOP_DEAD_ZONE) ? ev_stop : ev_action;
        sim_env_step(env, drive);
    }
    ep->num_frames = t;
    SimOutcome o;
    sim_env_outcome(env, ep->side, &o);
    return o.success && o.stopped && o.adhered;
}

int sim_episode_make(SimEnv *env, const SimGenSpec *g, int index, Policy *learner, SimEpisode *ep)
{
    memset(ep, 0, sizeof *ep);
    if (env->cfg.max_steps + 2 > (int)(sizeof ep->events / sizeof ep->events[0]))
        return mvla_fail(MVLA_ERR_ARG, "sim generate: max_steps %d: at most %d for episodes", env->cfg.max_steps,
                         (int)(sizeof ep->events / sizeof ep->events[0]) - 2);
    int cell = index % CELLS, block = index / CELLS;
    ep->scene.boxes = 1 + cell / 12;
    ep->scene.layout = (SimLayout)(cell / 6 % 2);
    ep->side = (SimSide)(cell / 3 % 2);
    ep->scene.distance = (SimDistance)(cell % 3);
    /* lighting (block + cell) % 4: 6 of each per block of 24, each cell sees all four over 4 blocks */
    ep->scene.lighting = (SimLighting)(g->lighting >= 0 ? g->lighting : (block + cell) % SIM_LIGHT_COUNT);
    ep->scene.target = (SimTarget)(g->target >= 0 ? g->target : (block + cell) % SIM_TARGET_COUNT);
    ep->scene.distractors = g->distractors;
    Rng r;
    rng_seed(&r, sim_mix_seed(g->seed, (uint64_t)index, 0x9e4, 0));
    ep->variant = rng_uniform(&r) < g->variant_frac && !learner; /* DAgger labels: the canonical route */
    ep->instruction = sim_instruction(ep->scene.target, ep->side, g->lang ? g->lang : "en");
    ep->width = env->cfg.camera.width, ep->height = env->cfg.camera.height;
    size_t max_frames = (size_t)env->cfg.max_steps + 2;
    ep->frames = malloc(max_frames * (size_t)ep->width * ep->height * 3);
    ep->actions = malloc(max_frames * 3 * sizeof *ep->actions);
    if (!ep->frames || !ep->actions) {
        sim_episode_free(ep);
        return mvla_fail(MVLA_ERR_NOMEM, "sim generate: out of memory for episode %d", index);
    }
    Policy expert;
    SimExpertOptions opt = {ep->variant ? SIM_EXPERT_VARIANT : SIM_EXPERT_CORE, 0};
    int rc = sim_expert_policy(&expert, env, &opt);
    for (int attempt = 0; !rc && attempt < MAX_TRIES; attempt++) {
        ep->seed = sim_mix_seed(g->seed, (uint64_t)index, (uint64_t)attempt, 0x6e4);
        Rng mix;
        rng_seed(&mix, sim_mix_seed(ep->seed, 0xda, 0, 0));
        int err = 0, ok = rollout(env, &expert, learner, g->expert_prob, &mix, ep, &err);
        if (ok < 0) rc = err;
        else if (ok || learner) break;
        else if (attempt == MAX_TRIES - 1)
            rc = mvla_fail(MVLA_ERR_ARG, "sim generate: episode %d: the expert failed %d seeds in a row", index, MAX_TRIES);
    }
    policy_destroy(&expert);
    if (rc) {
        sim_episode_free(ep);
        return rc;
    }
    episode_stamp(ep, g, index, learner != NULL, &r);
    return 0;
}

int sim_episode_write(const SimEpisode *ep, const char *path)
{
    char layout[8];
    snprintf(layout, sizeof layout, "%s", sim_layout_name(ep->scene.layout));
    char period[16];
    snprintf(period, sizeof period, "%s", sim_lighting_name(ep->scene.lighting));
    char name[192], datetime[32], instruction[320];
    snprintf(name, sizeof name, "%s", ep->name);
    snprintf(datetime, sizeof datetime, "%s", ep->datetime);
    snprintf(instruction, sizeof instruction, "%s", ep->instruction);
    EpisodeInfo info;
    memset(&info, 0, sizeof info);
    info.episode_name = name;
    info.num_frames = ep->num_frames;
    info.height = ep->height, info.width = ep->width;
    info.actions = ep->actions;
    info.events = (char **)ep->events;
    info.instruction = instruction;
    info.total_duration = ep->duration;
    info.action_chunk_size = 8;
    info.layout_attr = layout;
    info.time_period = period;
    info.collection_datetime = datetime;
    info.collection_hour = ep->hour, info.collection_minute = ep->minute;
    return episode_write(path, &info, ep->frames);
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return mvla_fail(MVLA_ERR_IO, "%s: exists and is not a directory", dir);
    }
    return mvla_fail(MVLA_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
}

int sim_generate(const char *dir, const SimConfig *cfg, const SimGenSpec *g, SimGenProgress progress, void *user)
{
    if (g->count < 0 || g->count > 10000000 || g->lighting >= SIM_LIGHT_COUNT || g->target >= SIM_TARGET_COUNT ||
        g->distractors < 0 || g->distractors > SIM_MAX_DISTRACTORS || !(g->variant_frac >= 0) || g->variant_frac > 1 ||
        !(g->expert_prob >= 0) || g->expert_prob > 1)
        return mvla_fail(MVLA_ERR_ARG, "sim generate: count >= 0, lighting/target in range or -1, distractors 0..%d, "
                                       "variant fraction and expert probability 0..1 expected", SIM_MAX_DISTRACTORS);
    int rc = make_dir(dir);
    if (rc) return rc;
    int first_rc = 0, done = 0;
    char first_msg[512] = "";
#pragma omp parallel
    {
        SimEnv *env = NULL;
        Policy learner = {0};
        int trc = sim_env_new(&env, cfg);
        if (!trc && g->open_learner) trc = g->open_learner(&learner, g->learner_user);
        if (trc) {
#pragma omp critical(sim_gen_error)
            if (!first_rc) {
                snprintf(first_msg, sizeof first_msg, "%s", mvla_error_message());
#pragma omp atomic write
                first_rc = trc;
            }
        }
#pragma omp for schedule(dynamic)
        for (int i = 0; i < g->count; i++) {
            int stop;
#pragma omp atomic read
            stop = first_rc;
            if (stop || !env) continue;
            SimEpisode ep;
            int erc = sim_episode_make(env, g, i, g->open_learner ? &learner : NULL, &ep);
            if (!erc) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s.h5", dir, ep.name);
                erc = sim_episode_write(&ep, path);
                sim_episode_free(&ep);
            }
#pragma omp critical(sim_gen_error)
            {
                if (erc && !first_rc) {
                    snprintf(first_msg, sizeof first_msg, "%s", mvla_error_message());
#pragma omp atomic write
                    first_rc = erc;
                }
                done++;
                if (progress && !erc) progress(user, done, g->count);
            }
        }
        policy_destroy(&learner);
        sim_env_free(env);
    }
    if (first_rc) return mvla_fail(first_rc, "%s", first_msg);
    return 0;
}
