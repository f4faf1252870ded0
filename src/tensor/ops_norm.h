/* Normalisation: batch norm (PyTorch's BatchNorm1d/2d) and layer norm (nn.LayerNorm over the last dim),
 * plus folding an eval-mode batch norm into the convolution (or linear layer) before it.
 *
 * Shapes:
 *   batch norm   x [N, C, ...] (NCHW for images; [N, C] and [N, C, L] work too), per-channel
 *                gamma, beta, running_mean, running_var [C]; out has x's shape.
 *   layer norm   x [..., D], gamma, beta [D] or NULL; out has x's shape. */
#ifndef MVLA_OPS_NORM_H
#define MVLA_OPS_NORM_H

#include "tensor/tensor.h"

/* Batch norm over every axis but the channel axis 1. gamma / beta may be NULL (no affine).
 * training != 0: normalises with the batch's mean and biased variance, and (when running_mean and
 *   running_var are given) updates them in place like PyTorch:
 *   running = (1 - momentum) * running + momentum * batch, with the unbiased variance for running_var.
 *   Needs more than one value per channel. Gradients are the full batch-statistics gradients.
 * training == 0: normalises with running_mean / running_var (required), a per-channel affine map.
 * PyTorch's defaults: momentum 0.1, eps 1e-5. */
Tensor *op_batchnorm2d(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, Tensor *running_mean,
                       Tensor *running_var, float momentum, float eps, int training);

/* Layer norm over the last dimension: x [..., D], gamma [D] or NULL, beta [D] or NULL -> [..., D].
 * Biased variance, eps inside the square root (CLIP uses 1e-5). */
Tensor *op_layernorm(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, float eps);

/* Rewrites a convolution (or linear layer) followed by an eval-mode batch norm into one layer:
 *   w'[o, ...] = w[o, ...] * s[o],  b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o],
 *   s[o] = gamma[o] / sqrt(running_var[o] + eps).
 * conv_w: [Cout, ...] persistent weights, changed in place. *conv_b: [Cout] bias, changed in place; if
 * *conv_b is NULL a new persistent bias is created (the caller frees it). gamma / beta may be NULL
 * (1 and 0). Returns 0, or an error code with a message (nothing is changed then). */
int bn_fold_into_conv(Tensor *conv_w, Tensor **conv_b, const Tensor *gamma, const Tensor *beta,
                      const Tensor *running_mean, const Tensor *running_var, float eps);

#endif
