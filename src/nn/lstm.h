/* nn.LSTM (batch_first = True): a stack of `layers` LSTM layers, each one op_lstm_layer
 * (src/tensor/ops_lstm.h); layer l > 0 reads layer l-1's output sequence.
 * Checkpoint names, as PyTorch's: "<prefix>.weight_ih_l<k>" [4H, in], "<prefix>.weight_hh_l<k>" [4H, H],
 * "<prefix>.bias_ih_l<k>" [4H], "<prefix>.bias_hh_l<k>" [4H] (gate order i, f, g, o).
 * Not supported (yet): dropout between layers, bidirectional, proj_size. */
#ifndef MVLA_NN_LSTM_H
#define MVLA_NN_LSTM_H

#include "nn/params.h"

#define LSTM_MAX_LAYERS 8

typedef struct {
    int input, hidden, layers;
    /* Owned by the ParamList given to lstm_init. */
    Tensor *w_ih[LSTM_MAX_LAYERS], *w_hh[LSTM_MAX_LAYERS], *b_ih[LSTM_MAX_LAYERS], *b_hh[LSTM_MAX_LAYERS];
} LSTM;

/* Creates the parameters in p (weights decayed, biases not), drawn like PyTorch's from
 * U(-1/sqrt(hidden), 1/sqrt(hidden)). prefix NULL or "" gives the bare names ("weight_ih_l0"). */
int lstm_init(LSTM *m, ParamList *p, const char *prefix, int input, int hidden, int layers, Rng *rng);

/* x [B, T, input] -> the last layer's output sequence [B, T, hidden].
 * Per-layer states are arrays of `layers` tensors [B, hidden] (PyTorch stacks them as
 * [layers, B, hidden]): h0 / c0 NULL (all zeros) or arrays whose entries may be NULL;
 * h_n / c_n NULL or arrays that receive the final states. NULL on failure. */
Tensor *lstm_forward(Graph *g, const LSTM *m, Tensor *x, Tensor *const *h0, Tensor *const *c0, Tensor **h_n,
                     Tensor **c_n);

#endif
