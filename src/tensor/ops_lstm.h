/* LSTM: one fused op per layer over the whole sequence, with backpropagation through time.
 *
 * PyTorch's nn.LSTM semantics (batch_first = True), gate order (i, f, g, o):
 *   gates_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          [B, 4H]
 *   i = sigmoid, f = sigmoid, g = tanh, o = sigmoid (of the four H-wide column blocks)
 *   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 * Shapes: x [B, T, I], w_ih [4H, I], w_hh [4H, H], b_ih / b_hh [4H] or NULL,
 *         h0 / c0 [B, H] or NULL (zeros) -> output sequence [B, T, H] (h_1 .. h_T),
 *         final states h_n, c_n [B, H].
 *
 * How the final states take part in backward: the op's tape node outputs one internal
 * "state" tensor, flat [B*T*H + B*H] = the output sequence followed by c_n. The returned
 * tensors are outputs of three small nodes that read it: the sequence and c_n are views
 * into it, h_n is a copy of the last time step. Each small node's backward adds its
 * gradient into the state's gradient, so the LSTM node runs whenever any of the three
 * received one (a loss on h_n or c_n alone works). To seed several of them at once, add
 * into graph_grad(g, h_n) / graph_grad(g, c_n) before graph_backward on the sequence. */
#ifndef MVLA_OPS_LSTM_H
#define MVLA_OPS_LSTM_H

#include "tensor/tensor.h"

/* x [B,T,I] -> [B,T,H]; *h_n and *c_n (pointers may be NULL) receive [B,H]. T >= 1.
 * Gradients: x, w_ih, w_hh, b_ih, b_hh, h0, c0. */
Tensor *op_lstm_layer(Graph *g, Tensor *x, Tensor *w_ih, Tensor *w_hh, Tensor *b_ih, Tensor *b_hh, Tensor *h0,
                      Tensor *c0, Tensor **h_n, Tensor **c_n);

#endif
