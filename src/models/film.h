/* Fusion of the instruction into visual features.
 *
 * FiLM (feature-wise linear modulation): per-channel scale and shift of a feature map computed from
 * the instruction embedding,
 *   x [N, C, H, W], cond [N, E]:  y = x * (1 + gamma(cond)) + beta(cond),  gamma, beta: linear E -> C
 * Both linears start at zero, so a fresh FiLM is the identity and training moves away from it.
 * Checkpoint names "<prefix>.gamma.{weight,bias}", "<prefix>.beta.{weight,bias}".
 *
 * Concatenation (the ablation without FiLM): [N, F] and [N, E] -> [N, F + E]; the linear after it
 * belongs to the caller. */
#ifndef MVLA_FILM_H
#define MVLA_FILM_H

#include "nn/linear.h"

typedef struct {
    int channels, cond_dim;
    Linear gamma, beta;
} Film;

int film_init(Film *f, ParamList *p, const char *prefix, int cond_dim, int channels);
/* x [N, C, H, W] (or [N, C]), cond [N, E] -> x's shape. */
Tensor *film_apply(Graph *g, const Film *f, Tensor *x, Tensor *cond);
/* feat [N, F], cond [N, E] -> [N, F + E]. */
Tensor *fusion_concat(Graph *g, Tensor *feat, Tensor *cond);

#endif
