/* Closed-loop success for checkpoint selection (see sim_select.h). */
#include "train/sim_select.h"

#include "base/error.h"
#include "runtime/model_policy.h"
#include "sim/env.h"
#include "sim/eval.h"

int train_sim_success(const char *model_path, const TrainSettings *t, double *success)
{
    *success = 0;
    Policy p;
    int rc = model_policy_open(&p, model_path);
    if (rc) return rc;
    SimConfig cfg;
    sim_config_default(&cfg);
    SimEnv *env = NULL;
    rc = sim_env_new(&env, &cfg);
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = t->select_rollouts;
    spec.seed = t->select_seed;
    spec.target = t->select_target;
    SimEvalResult res;
    if (!rc && !(rc = sim_eval_run(env, &p, &spec, &res, NULL, NULL))) {
        SimEvalSummary s;
        sim_eval_summarize(&res, -1, -1, -1, -1, &s);
        *success = s.n ? (double)s.success / s.n : 0;
        sim_eval_free(&res);
    }
    sim_env_free(env);
    policy_destroy(&p);
    return rc;
}
