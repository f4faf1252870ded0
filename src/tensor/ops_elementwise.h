/* Element-wise arithmetic and reductions.
 *
 * Binary ops broadcast like NumPy / PyTorch: shapes are aligned on the right, a missing
 * leading dimension counts as 1, and a dimension of size 1 is repeated to match the other
 * operand ([2, 3, 4] + [4], [2, 1, 4] * [3, 1] -> [2, 3, 4], [2, 3, 4] + [1]). The backward
 * sums each input's gradient over the dimensions it was broadcast along.
 * Reductions to a scalar return a 0-dimensional tensor (one element, shape []).
 * Axis arguments may be negative (-1 is the last dimension). */
#ifndef MVLA_OPS_ELEMENTWISE_H
#define MVLA_OPS_ELEMENTWISE_H

#include "tensor/tensor.h"

/* a, b broadcastable -> broadcast shape: a + b, a - b, a * b. */
Tensor *op_add(Graph *g, Tensor *a, Tensor *b);
Tensor *op_sub(Graph *g, Tensor *a, Tensor *b);
Tensor *op_mul(Graph *g, Tensor *a, Tensor *b);

/* x [...] -> x * s, x + s. */
Tensor *op_scale(Graph *g, Tensor *x, float s);
Tensor *op_add_scalar(Graph *g, Tensor *x, float s);

/* x [..., C] + b [C] -> [..., C]. */
Tensor *op_bias(Graph *g, Tensor *x, Tensor *b);
/* x [N, C, H, W] (or [C, H, W]) + b [C] per channel -> the shape of x. */
Tensor *op_bias_channels(Graph *g, Tensor *x, Tensor *b);

/* x [...] -> [] : sum and mean of every element (mean of an empty tensor is an error). */
Tensor *op_sum(Graph *g, Tensor *x);
Tensor *op_mean(Graph *g, Tensor *x);

/* x [..., D, ...] -> the same shape without dimension `dim` (keepdim: with size 1 there). */
Tensor *op_sum_dim(Graph *g, Tensor *x, int dim, int keepdim);
Tensor *op_mean_dim(Graph *g, Tensor *x, int dim, int keepdim);

#endif
