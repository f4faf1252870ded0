/* The key-match ceiling (see ceiling.h). */
#include "sim/ceiling.h"

#include "base/error.h"
#include "data/actions.h"
#include "sim/expert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void count_add(SimCeilingCount *d, const SimCeilingCount *s)
{
    d->episodes += s->episodes;
    d->frames += s->frames;
    d->match += s->match;
    d->abs_err += s->abs_err;
}

/* Replays ep (from sim_episode_make) on env, scoring the oracle's guesses into c. */
static void replay(SimEnv *env, SimKeyOracle *o, const SimEpisode *ep, SimCeilingCount *c)
{
    sim_env_reset(env, &ep->scene, ep->seed);
    sim_key_oracle_reset(o, ep->instruction, ep->seed);
    c->episodes++;
    for (int t = 1; t < ep->num_frames && !env->done; t++) {
        const float *a = ep->actions + 3 * t;
        char key = action_to_key(a, ACTION_TOL);
        float guess[3];
        char k = sim_key_oracle_step(o, key, guess);
        c->frames++;
        c->match += k == key;
        c->abs_err += (fabsf(guess[0] - a[0]) + fabsf(guess[1] - a[1]) + fabsf(guess[2] - a[2])) / 3.0;
        sim_env_step(env, a);
    }
}

int sim_key_ceiling(const SimConfig *cfg, const SimGenSpec *g, int hypotheses, float pose_noise, SimCeiling *out,
                    SimGenProgress progress, void *user)
{
    memset(out, 0, sizeof *out);
    if (g->count < 1 || g->count > 10000000 || !(g->variant_frac >= 0) || g->variant_frac > 1)
        return mvla_fail(MVLA_ERR_ARG, "sim ceiling: count >= 1 and variant fraction 0..1 expected");
    int first_rc = 0, done = 0;
    char first_msg[512] = "";
#pragma omp parallel
    {
        SimEnv *env = NULL;
        SimKeyOracle *o = NULL;
        int trc = sim_env_new(&env, cfg);
        if (!trc) trc = sim_key_oracle_new(&o, env, hypotheses, g->variant_frac, pose_noise);
        SimCeiling mine = {0};
#pragma omp for schedule(dynamic)
        for (int i = 0; i < g->count; i++) {
            if (trc) continue;
            SimEpisode ep;
            if ((trc = sim_episode_make(env, g, i, NULL, &ep))) continue;
            SimCeilingCount c = {0};
            replay(env, o, &ep, &c);
            count_add(ep.variant ? &mine.variant : &mine.core, &c);
            count_add(&mine.all, &c);
            sim_episode_free(&ep);
#pragma omp critical(sim_ceiling)
            {
                done++;
                if (progress) progress(user, done, g->count);
            }
        }
#pragma omp critical(sim_ceiling)
        {
            if (trc && !first_rc) {
                snprintf(first_msg, sizeof first_msg, "%s", mvla_error_message());
                first_rc = trc;
            }
            count_add(&out->all, &mine.all);
            count_add(&out->core, &mine.core);
            count_add(&out->variant, &mine.variant);
        }
        sim_key_oracle_free(o);
        sim_env_free(env);
    }
    if (first_rc) return mvla_fail(first_rc, "%s", first_msg);
    return 0;
}
