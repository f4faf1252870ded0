/* A named list of parameters: what optimisers update and checkpoints save.
 * Each entry is a persistent tensor with a checkpoint name. Trainable entries have requires_grad
 * and a grad; `decay` says whether weight decay applies (weights: yes; biases and norm scales: no).
 * Buffers (batch norm running statistics, ...) are saved and loaded with the parameters but have
 * no grad, so optimisers leave them alone. */
#ifndef MVLA_PARAMS_H
#define MVLA_PARAMS_H

#include "tensor/tensor.h"

typedef struct {
    Tensor *tensor;
    char *name;
    int decay;
    int trainable; /* 0: a buffer */
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
/* Adds a zeroed buffer (saved in checkpoints, never trained). NULL on failure. */
Tensor *params_new_buffer(ParamList *p, const char *name, int ndim, const int *shape);
Param *params_find(const ParamList *p, const char *name);
void params_zero_grad(ParamList *p);
long params_numel(const ParamList *p);

#endif
