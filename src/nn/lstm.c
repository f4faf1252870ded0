#include "nn/lstm.h"

#include "base/error.h"
#include "tensor/ops_lstm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int lstm_init(LSTM *m, ParamList *p, const char *prefix, int input, int hidden, int layers, Rng *rng)
{
    memset(m, 0, sizeof *m);
    if (input <= 0 || hidden <= 0 || layers <= 0 || layers > LSTM_MAX_LAYERS)
        return mvla_fail(MVLA_ERR_ARG, "lstm %s: input %d, hidden %d, layers %d: expected sizes > 0 and 1..%d layers",
                         prefix ? prefix : "", input, hidden, layers, LSTM_MAX_LAYERS);
    m->input = input, m->hidden = hidden, m->layers = layers;
    const char *dot = prefix && *prefix ? "." : "";
    float bound = 1.0f / sqrtf((float)hidden);
    for (int l = 0; l < layers; l++) {
        char name[256];
        Tensor **slot[4] = {&m->w_ih[l], &m->w_hh[l], &m->b_ih[l], &m->b_hh[l]};
        const char *kind[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        int cols[4] = {l ? hidden : input, hidden, 0, 0};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s%s%s_l%d", prefix ? prefix : "", dot, kind[k], l);
            int shape[2] = {4 * hidden, cols[k]};
            *slot[k] = params_new(p, name, k < 2, k < 2 ? 2 : 1, shape);
            if (!*slot[k]) return mvla_fail(MVLA_ERR_NOMEM, "lstm: cannot create %s: %s", name, mvla_error_message());
            tensor_fill_uniform(*slot[k], rng, -bound, bound);
        }
    }
    return MVLA_OK;
}

Tensor *lstm_forward(Graph *g, const LSTM *m, Tensor *x, Tensor *const *h0, Tensor *const *c0, Tensor **h_n,
                     Tensor **c_n)
{
    Tensor *seq = x;
    for (int l = 0; l < m->layers && seq; l++)
        seq = op_lstm_layer(g, seq, m->w_ih[l], m->w_hh[l], m->b_ih[l], m->b_hh[l], h0 ? h0[l] : NULL,
                            c0 ? c0[l] : NULL, h_n ? &h_n[l] : NULL, c_n ? &c_n[l] : NULL);
    return seq;
}
