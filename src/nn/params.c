#include "nn/params.h"

#include "base/error.h"

#include <stdlib.h>
#include <string.h>

void params_init(ParamList *p) { memset(p, 0, sizeof *p); }

void params_free(ParamList *p, int owned)
{
    for (int i = 0; i < p->count; i++) {
        if (owned) tensor_free(p->items[i].tensor);
        else p->items[i].tensor->name = NULL;
        free(p->items[i].name);
    }
    free(p->items);
    memset(p, 0, sizeof *p);
}

static int add_entry(ParamList *p, Tensor *t, const char *name, int decay, int trainable)
{
    if (!t) return mvla_fail(MVLA_ERR_ARG, "params: %s: no tensor", name);
    if (params_find(p, name)) return mvla_fail(MVLA_ERR_ARG, "params: %s added twice", name);
    if (p->count == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        Param *bigger = realloc(p->items, (size_t)cap * sizeof *bigger);
        if (!bigger) return mvla_fail(MVLA_ERR_NOMEM, "params: out of memory");
        p->items = bigger;
        p->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy || (trainable && tensor_requires_grad(t))) {
        free(copy);
        return mvla_fail(MVLA_ERR_NOMEM, "params: out of memory");
    }
    t->name = copy;
    p->items[p->count++] = (Param){t, copy, decay, trainable};
    return MVLA_OK;
}

int params_add(ParamList *p, Tensor *t, const char *name, int decay) { return add_entry(p, t, name, decay, 1); }

Tensor *params_new(ParamList *p, const char *name, int decay, int ndim, const int *shape)
{
    Tensor *t = tensor_new(ndim, shape);
    if (!t) return NULL;
    if (params_add(p, t, name, decay)) {
        tensor_free(t);
        return NULL;
    }
    return t;
}

Tensor *params_new_buffer(ParamList *p, const char *name, int ndim, const int *shape)
{
    Tensor *t = tensor_new(ndim, shape);
    if (!t) return NULL;
    if (add_entry(p, t, name, 0, 0)) {
        tensor_free(t);
        return NULL;
    }
    return t;
}

Param *params_find(const ParamList *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return &p->items[i];
    return NULL;
}

void params_zero_grad(ParamList *p)
{
    for (int i = 0; i < p->count; i++) tensor_zero_grad(p->items[i].tensor);
}

long params_numel(const ParamList *p)
{
    long n = 0;
    for (int i = 0; i < p->count; i++) n += p->items[i].tensor->numel;
    return n;
}
