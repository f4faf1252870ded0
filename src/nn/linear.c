#include "nn/linear.h"

#include "base/error.h"
#include "nn/init.h"
#include "tensor/ops_linear.h"

#include <stdio.h>

int linear_init(Linear *l, ParamList *p, const char *prefix, int in, int out, int bias, Rng *rng)
{
    char name[256];
    l->in = in;
    l->out = out;
    snprintf(name, sizeof name, "%s.weight", prefix);
    l->weight = params_new(p, name, 1, 2, (int[]){out, in});
    if (!l->weight) return MVLA_ERR_NOMEM;
    init_uniform_fan_in(l->weight, in, rng);
    l->bias = NULL;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        l->bias = params_new(p, name, 0, 1, (int[]){out});
        if (!l->bias) return MVLA_ERR_NOMEM;
        init_uniform_fan_in(l->bias, in, rng);
    }
    return MVLA_OK;
}

Tensor *linear_forward(Graph *g, const Linear *l, Tensor *x) { return op_linear(g, x, l->weight, l->bias); }
