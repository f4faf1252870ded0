/* Checkpoint selection by closed-loop success in the built-in simulator (train.select "sim").
 *
 * REFERENCE: offline MAE ranks policies poorly; the best projects select by closed-loop success. For
 * data from `mvla sim generate`, the trainer scores every epoch's weights by driving the simulator's
 * scenario grid (sim/eval.h) with train.select_rollouts rollouts per scenario x side x distance cell,
 * seeded by train.select_seed (keep it apart from the seed of the final `mvla sim eval`, or the
 * selection is tuned on the test rollouts), with targets train.select_target.
 *
 * The score is success on the instructed side (sim eval's "on-side"): a rollout counts only when it
 * reached the goal after passing the obstacles where the instruction said. Plain success would rate
 * a policy that ignores the instruction as highly as one that follows it (the seed's failure). */
#ifndef MVLA_TRAIN_SIM_SELECT_H
#define MVLA_TRAIN_SIM_SELECT_H

#include "runtime/policy.h"
#include "sim/env.h"
#include "train/train_config.h"

/* Score (0..1) of policy p driving env over the selection grid. */
int train_sim_score_policy(SimEnv *env, Policy *p, const TrainSettings *t, double *score);

/* Score (0..1) of the model file or checkpoint at model_path, in a simulator with the default setup. */
int train_sim_score(const char *model_path, const TrainSettings *t, double *score);

#endif
