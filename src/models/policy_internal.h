/* Pieces of the student policy's forward pass shared by the batched forward (policy.c) and the step
 * runner (policy_runner.c), so both run exactly the same ops. Not a public API. */
#ifndef MVLA_POLICY_INTERNAL_H
#define MVLA_POLICY_INTERNAL_H

#include "models/policy.h"

/* x [N, 3, H, W], cond [N, E] (each frame's instruction embedding) -> per-frame features [N, D]. */
Tensor *student_frame_features(Graph *g, StudentPolicy *p, Tensor *x, Tensor *cond, int training, Rng *rng);
/* feats [N, D], mask N floats -> rows with mask 0 replaced by head.pad. */
Tensor *student_mix_padding(Graph *g, StudentPolicy *p, Tensor *feats, const float *mask);
/* feats [B, W, D], mask NULL or B*W floats (0: padding) -> [B, K, out_dim]. */
Tensor *student_head(Graph *g, StudentPolicy *p, Tensor *feats, const float *mask, int training, Rng *rng);

#endif
