/* The simulator's expert driver, a Policy with privileged state: it reads the scene geometry and
 * the robot's true pose from the SimEnv it was built on (never the camera frame), and drives
 * around the obstacles on the instructed side to stop at the goal spot in front of the target,
 * using only teleop keys:
 *
 *   core     the canonical route: forward while there is room, slide out to the lane beside the
 *            obstacles, forward past them, slide back in line with the target, forward, stop
 *            (a medium 1box_hori_left: W A A A A W W W W W W W W W D D D D, space; drift may add a
 *            correcting key). It keeps room beyond the clearance (two key steps ahead of the
 *            obstacles, one beside and one past them), so a policy a key or two off still clears them
 *   variant  varied but valid routes: one or more habits drawn per rollout (sliding out early,
 *            heading for the lane diagonally, a wider lane, returning late or diagonally, a glance
 *            to one side and back), each followed consistently through the episode
 *
 * The side comes from the instruction (sim_instruction_side); an instruction naming no side gets
 * the side with more room. The env must outlive the policy, and each rollout must be
 * sim_env_reset before policy_reset (the expert draws its variant choices from the rollout seed). */
#ifndef MVLA_SIM_EXPERT_H
#define MVLA_SIM_EXPERT_H

#include "runtime/policy.h"
#include "sim/env.h"

typedef enum { SIM_EXPERT_CORE, SIM_EXPERT_VARIANT } SimExpertStyle;

typedef struct {
    SimExpertStyle style;
    int ignore_instruction; /* baseline: drive on a random side (per rollout) whatever the instruction says */
} SimExpertOptions;

int sim_expert_policy(Policy *out, const SimEnv *env, const SimExpertOptions *opt);

/* The key the expert pressed last (' ' for stop; 0 before the first step). */
char sim_expert_last_key(const Policy *expert);
/* The side the expert is driving on in this rollout. */
SimSide sim_expert_side(const Policy *expert);

/* The key oracle: the expert's keys predicted as well as anyone can who knows the true state and the
 * keys pressed so far, but not a variant driver's habits, which show only once they act (a glance
 * step, sliding out early, a wider lane). It bounds how well any policy can match the keys.
 * Hypotheses: the canonical route (prior 1 - variant_frac) and hypotheses - 1 habit sets drawn as a
 * variant driver draws them (variant_frac shared among them). Each drives along the true trajectory;
 * the prediction is the weighted vote of those that matched the most keys so far.
 *
 *   sim_key_oracle_reset(o, instruction, seed)        after sim_env_reset, per rollout (seed: the
 *                                                     hypotheses drawn, so results do not depend on
 *                                                     which rollouts an oracle saw before)
 *   k = sim_key_oracle_step(o, true_key, action)      at each pose, before sim_env_step
 *
 * step returns the predicted key and fills action with the per-axis weighted median (raw units, the
 * MAE-optimal guess), then scores each hypothesis against true_key. With pose_noise > 0 (m) the
 * oracle perceives the robot's x and y with that much Gaussian error, drawn anew at each step: a
 * policy that judges its position from the camera only that well. */
typedef struct SimKeyOracle SimKeyOracle;

int sim_key_oracle_new(SimKeyOracle **out, const SimEnv *env, int hypotheses, float variant_frac, float pose_noise);
void sim_key_oracle_free(SimKeyOracle *o);
void sim_key_oracle_reset(SimKeyOracle *o, const char *instruction, uint64_t seed);
char sim_key_oracle_step(SimKeyOracle *o, char true_key, float action[3]);

#endif
