/* Closed-loop success for checkpoint selection (see sim_select.h). */
#include "train/sim_select.h"

#include "runtime/model_policy.h"
#include "sim/eval.h"

int train_sim_score_policy(SimEnv *env, Policy *p, const TrainSettings *t, double *score)
{
    *score = 0;
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = t->select_rollouts;
    spec.seed = t->select_seed;
    spec.target = t->select_target;
    SimEvalResult res;
    int rc = sim_eval_run(env, p, &spec, &res, NULL, NULL);
    if (rc) return rc;
    SimEvalSummary s;
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    *score = s.n ? (double)s.success_on_side / s.n : 0;
    sim_eval_free(&res);
    return 0;
}

int train_sim_score(const char *model_path, const TrainSettings *t, double *score)
{
    *score = 0;
    Policy p;
    int rc = model_policy_open(&p, model_path);
    if (rc) return rc;
    SimConfig cfg;
    sim_config_default(&cfg);
    SimEnv *env = NULL;
    rc = sim_env_new(&env, &cfg);
    if (!rc) rc = train_sim_score_policy(env, &p, t, score);
    sim_env_free(env);
    policy_destroy(&p);
    return rc;
}
