/* Loss functions. Each returns a 0-dimensional tensor (one element, shape []) holding the mean
 * loss, like PyTorch's losses with their default reduction='mean'; gradients flow to every input
 * that requires them (the target of a regression loss included). */
#ifndef MVLA_OPS_LOSS_H
#define MVLA_OPS_LOSS_H

#include "tensor/tensor.h"

/* pred, target of the same shape [...] -> mean((pred - target)^2) (torch.nn.MSELoss). */
Tensor *op_mse_loss(Graph *g, Tensor *pred, Tensor *target);
/* -> mean(|pred - target|) (torch.nn.L1Loss; the gradient at pred == target is 0). */
Tensor *op_l1_loss(Graph *g, Tensor *pred, Tensor *target);
/* -> mean of 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), d = pred - target,
 * delta > 0 (torch.nn.HuberLoss(delta=delta)). */
Tensor *op_huber_loss(Graph *g, Tensor *pred, Tensor *target, float delta);

/* Masked (weighted) means of the same losses. mask's shape is a prefix of pred's, for example
 * pred [B, T, A] with mask [B, T] (one weight per time step) or [B, T, A]; each mask value
 * weights the elements of pred under it. Result: sum(mask * loss) / sum(mask * 1), i.e. the mean
 * over the elements the mask keeps; 0 when the mask is all zero. The mask gets no gradient. */
Tensor *op_mse_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask);
Tensor *op_l1_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask);
Tensor *op_huber_loss_masked(Graph *g, Tensor *pred, Tensor *target, Tensor *mask, float delta);

/* logits [N, C], targets: N class ids in 0..C-1 -> mean over the rows whose target is not
 * ignore_index of -log softmax(logits)[target] (torch.nn.CrossEntropyLoss(ignore_index=...)).
 * Pass -100 (torch's default) or any other id that never occurs to ignore nothing. A target
 * outside 0..C-1 that is not ignore_index is an error. When every row is ignored the loss is 0
 * with a zero gradient (PyTorch gives NaN). targets is copied; the caller keeps it. */
Tensor *op_cross_entropy(Graph *g, Tensor *logits, const int *targets, int ignore_index);

#endif
