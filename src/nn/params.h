/* A named list of parameters: what optimisers update and checkpoints save.
 * Each entry is a persistent tensor with requires_grad and a checkpoint name; `decay` says
 * whether weight decay applies (weights: yes; biases and norm scales: no). */
#ifndef MVLA_PARAMS_H
#define MVLA_PARAMS_H

#include "tensor/tensor.h"

typedef struct {
    Tensor *tensor;
    char *name;
    int decay;
} Param;

typedef struct {
    Param *items;
    int count, cap;
} ParamList;

void params_init(ParamList *p);
/* Frees the list, its names and (owned = 1) the tensors. */
void params_free(ParamList *p, int owned);
/* Adds t under name (copied; t->name points at the copy) and marks it requires_grad. */
int params_add(ParamList *p, Tensor *t, const char *name, int decay);
/* Allocates a zeroed tensor of the given shape and adds it. NULL on failure. */
Tensor *params_new(ParamList *p, const char *name, int decay, int ndim, const int *shape);
Param *params_find(const ParamList *p, const char *name);
void params_zero_grad(ParamList *p);
long params_numel(const ParamList *p);

#endif
