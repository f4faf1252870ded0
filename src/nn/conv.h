/* nn.Conv2d: weight [out, in/groups, k, k], optional bias [out]; NCHW.
 * Checkpoint names "<prefix>.weight", "<prefix>.bias". */
#ifndef MVLA_NN_CONV_H
#define MVLA_NN_CONV_H

#include "nn/params.h"
#include "tensor/ops_conv.h"

typedef struct {
    Tensor *weight, *bias; /* bias NULL when created without one */
    Conv2dOpts opts;
} Conv2d;

/* Square kernel k, the same stride and padding on both axes, groups dividing in and out. */
int conv2d_init(Conv2d *c, ParamList *p, const char *prefix, int in, int out, int k, int stride, int padding,
                int groups, int bias, Rng *rng);
/* x [N, in, H, W] -> [N, out, H', W'] */
Tensor *conv2d_forward(Graph *g, const Conv2d *c, Tensor *x);

#endif
