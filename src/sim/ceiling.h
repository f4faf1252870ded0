/* The key-match ceiling of a generated dataset: each episode of `mvla sim generate` (the same
 * seed and index give the same episode) is replayed, and at every scored frame (1 on, as mvla eval
 * scores them) the key oracle (expert.h) predicts the expert's key knowing the true state and the
 * keys so far. No policy that sees only images and the instruction can beat it on average, so it
 * bounds the key match and MAE a trained model can reach on such data. */
#ifndef MVLA_SIM_CEILING_H
#define MVLA_SIM_CEILING_H

#include "sim/generate.h"

typedef struct {
    int episodes;
    long frames, match;
    double abs_err; /* summed over frames of the mean |error| over the three axes (raw units) */
} SimCeilingCount;

typedef struct {
    SimCeilingCount all, core, variant;
} SimCeiling;

/* Episodes 0..g->count-1 of g on cfg, with `hypotheses` oracle hypotheses (2000 is plenty: the
 * habit sets repeat) perceiving the pose with pose_noise (m; 0: exactly, the ceiling proper).
 * progress (may be NULL) is called from one thread at a time. */
int sim_key_ceiling(const SimConfig *cfg, const SimGenSpec *g, int hypotheses, float pose_noise, SimCeiling *out,
                    SimGenProgress progress, void *user);

#endif
