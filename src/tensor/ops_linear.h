/* Matrix products. */
#ifndef MVLA_OPS_LINEAR_H
#define MVLA_OPS_LINEAR_H

#include "tensor/tensor.h"

/* a: [..., M, K] (or [..., K, M] with trans_a), b: [..., K, N] (or [..., N, K] with trans_b).
 * Batch dimensions of a and b must be equal, or b is 2-D and shared by every batch.
 * Result: [..., M, N]. */
Tensor *op_matmul(Graph *g, Tensor *a, Tensor *b, int trans_a, int trans_b);

/* PyTorch's nn.Linear: x [..., in], w [out, in], bias [out] or NULL -> [..., out]. */
Tensor *op_linear(Graph *g, Tensor *x, Tensor *w, Tensor *bias);

#endif
