/* Baseline policies for closed-loop evaluation; they ignore the frame and the instruction.
 *   forward  always the w key (drives into whatever is ahead)
 *   random   a uniformly random teleop key each step (space included, so it may stop anywhere);
 *            reset k of a policy made with seed S draws from its own stream (S, k), so an
 *            evaluation is reproducible
 * The expert that ignores the instruction is sim_expert_policy with ignore_instruction set. */
#ifndef MVLA_SIM_BASELINES_H
#define MVLA_SIM_BASELINES_H

#include "runtime/policy.h"

#include <stdint.h>

int sim_forward_policy(Policy *out);
int sim_random_policy(Policy *out, uint64_t seed);

#endif
