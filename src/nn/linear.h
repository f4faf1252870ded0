/* nn.Linear: y = x W^T + b, W [out, in], b [out]. Checkpoint names "<prefix>.weight", "<prefix>.bias". */
#ifndef MVLA_NN_LINEAR_H
#define MVLA_NN_LINEAR_H

#include "nn/params.h"

typedef struct {
    Tensor *weight, *bias; /* bias NULL when created without one */
    int in, out;
} Linear;

/* Creates the parameters in p (weights decayed, bias not) with PyTorch's default init. */
int linear_init(Linear *l, ParamList *p, const char *prefix, int in, int out, int bias, Rng *rng);
/* x [..., in] -> [..., out] */
Tensor *linear_forward(Graph *g, const Linear *l, Tensor *x);

#endif
