#include "nn/conv.h"

#include "base/error.h"
#include "nn/init.h"

#include <stdio.h>

int conv2d_init(Conv2d *c, ParamList *p, const char *prefix, int in, int out, int k, int stride, int padding,
                int groups, int bias, Rng *rng)
{
    if (groups <= 0 || in % groups || out % groups)
        return mvla_fail(MVLA_ERR_ARG, "conv %s: groups %d must divide in %d and out %d", prefix, groups, in, out);
    char name[256];
    c->opts = conv2d_opts(stride, padding, groups);
    int fan_in = in / groups * k * k;
    snprintf(name, sizeof name, "%s.weight", prefix);
    c->weight = params_new(p, name, 1, 4, (int[]){out, in / groups, k, k});
    if (!c->weight) return MVLA_ERR_NOMEM;
    init_uniform_fan_in(c->weight, fan_in, rng);
    c->bias = NULL;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        c->bias = params_new(p, name, 0, 1, (int[]){out});
        if (!c->bias) return MVLA_ERR_NOMEM;
        init_uniform_fan_in(c->bias, fan_in, rng);
    }
    return MVLA_OK;
}

Tensor *conv2d_forward(Graph *g, const Conv2d *c, Tensor *x) { return op_conv2d(g, x, c->weight, c->bias, c->opts); }
