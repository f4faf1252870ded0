/* Activation functions: element-wise, y has the shape of x ([...] -> [...]).
 * Definitions follow PyTorch's, including the gradient chosen at kinks: relu'(0) = 0,
 * hardsigmoid'(+-3) = 0, hardswish'(-3) = -1/2, hardswish'(3) = 1 (what PyTorch's vectorised CPU
 * kernel gives; its scalar fallback for tiny tensors gives 3/2 there). */
#ifndef MVLA_OPS_ACTIVATION_H
#define MVLA_OPS_ACTIVATION_H

#include "tensor/tensor.h"

/* max(x, 0) */
Tensor *op_relu(Graph *g, Tensor *x);
/* x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), exact (torch's default GELU) */
Tensor *op_gelu(Graph *g, Tensor *x);
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GELU(approximate='tanh')) */
Tensor *op_gelu_tanh(Graph *g, Tensor *x);
/* x * sigmoid(1.702 x) (CLIP's QuickGELU) */
Tensor *op_quick_gelu(Graph *g, Tensor *x);
/* relu6(x + 3) / 6 */
Tensor *op_hardsigmoid(Graph *g, Tensor *x);
/* x * relu6(x + 3) / 6 */
Tensor *op_hardswish(Graph *g, Tensor *x);
/* 1 / (1 + exp(-x)) */
Tensor *op_sigmoid(Graph *g, Tensor *x);
/* tanh(x) */
Tensor *op_tanh(Graph *g, Tensor *x);
/* x * sigmoid(x) (SiLU / swish) */
Tensor *op_silu(Graph *g, Tensor *x);

#endif
