/* Softmax family and dropout.
 * Softmax and log-softmax normalise over the last dimension: x [..., C] -> [..., C],
 * computed stably (the row maximum is subtracted first). */
#ifndef MVLA_OPS_SOFTMAX_H
#define MVLA_OPS_SOFTMAX_H

#include "base/rng.h"
#include "tensor/tensor.h"

/* x [..., C] -> exp(x) / sum_C exp(x), [..., C]. */
Tensor *op_softmax(Graph *g, Tensor *x);
/* x [..., C] -> x - log(sum_C exp(x)), [..., C]. */
Tensor *op_log_softmax(Graph *g, Tensor *x);

/* Inverted dropout, x [...] -> [...]: each element is zeroed with probability p (0 <= p <= 1)
 * and the survivors are scaled by 1 / (1 - p) (p == 1 zeroes everything).
 * The mask is drawn from rng, one rng_uniform per element in order, so a given rng state
 * always gives the same mask; backward multiplies by the same mask.
 * When !training or p == 0 the op is the identity and returns x itself (nothing is drawn
 * from rng, which may then be NULL). */
Tensor *op_dropout(Graph *g, Tensor *x, float p, int training, Rng *rng);

#endif
