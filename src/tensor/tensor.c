#include "tensor/tensor.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long shape_numel(int ndim, const int *shape)
{
    long n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

static int check_shape(int ndim, const int *shape)
{
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return mvla_fail(MVLA_ERR_ARG, "tensor: %d dimensions, expected 0..%d", ndim, TENSOR_MAX_DIMS);
    long n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return mvla_fail(MVLA_ERR_ARG, "tensor: dimension %d is %d, expected >= 0", i, shape[i]);
        if (shape[i] && n > (1L << 40) / shape[i]) return mvla_fail(MVLA_ERR_ARG, "tensor: more than 2^40 elements");
        n *= shape[i];
    }
    return MVLA_OK;
}

static void set_shape(Tensor *t, int ndim, const int *shape)
{
    t->ndim = ndim;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = shape_numel(ndim, shape);
}

Tensor *tensor_new(int ndim, const int *shape)
{
    if (check_shape(ndim, shape)) return NULL;
    Tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    set_shape(t, ndim, shape);
    t->persistent = 1;
    t->data = calloc((size_t)(t->numel ? t->numel : 1), sizeof(float));
    if (!t->data) {
        mvla_fail(MVLA_ERR_NOMEM, "tensor: out of memory for %ld floats", t->numel);
        free(t);
        return NULL;
    }
    return t;
}

Tensor *tensor_new_shape(int ndim, ...)
{
    int shape[TENSOR_MAX_DIMS];
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) {
        mvla_fail(MVLA_ERR_ARG, "tensor: %d dimensions, expected 0..%d", ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return tensor_new(ndim, shape);
}

void tensor_free(Tensor *t)
{
    if (!t || !t->persistent) return;
    free(t->data);
    free(t->grad);
    free(t);
}

int tensor_requires_grad(Tensor *t)
{
    if (!t->grad) {
        t->grad = calloc((size_t)(t->numel ? t->numel : 1), sizeof(float));
        if (!t->grad) return mvla_fail(MVLA_ERR_NOMEM, "tensor: out of memory for grad");
    }
    t->requires_grad = 1;
    return MVLA_OK;
}

void tensor_zero_grad(Tensor *t)
{
    if (t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

int tensor_same_shape(const Tensor *a, const Tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *tensor_shape_str(const Tensor *t, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? ", " : "", t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

void tensor_fill(Tensor *t, float v)
{
    for (long i = 0; i < t->numel; i++) t->data[i] = v;
}

void tensor_fill_normal(Tensor *t, Rng *r, float std) { rng_fill_normal(r, t->data, t->numel, std); }

void tensor_fill_uniform(Tensor *t, Rng *r, float lo, float hi) { rng_fill_uniform(r, t->data, t->numel, lo, hi); }

void tensor_copy_data(Tensor *dst, const Tensor *src)
{
    memcpy(dst->data, src->data, (size_t)src->numel * sizeof(float));
}

/* ---- graph ---- */

struct Graph {
    Arena arena;
    Node **tape;
    int tape_len, tape_cap;
    int grad_enabled;
};

Graph *graph_new(void)
{
    Graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    arena_init(&g->arena);
    g->grad_enabled = 1;
    return g;
}

void graph_free(Graph *g)
{
    if (!g) return;
    arena_free(&g->arena);
    free(g->tape);
    free(g);
}

void graph_reset(Graph *g)
{
    arena_reset(&g->arena);
    g->tape_len = 0;
}

int graph_set_grad(Graph *g, int enabled)
{
    int prev = g->grad_enabled;
    g->grad_enabled = enabled;
    return prev;
}

int graph_grad_enabled(const Graph *g) { return g->grad_enabled; }

int graph_tape_len(const Graph *g) { return g->tape_len; }

Arena *graph_arena(Graph *g) { return &g->arena; }

void *graph_alloc(Graph *g, size_t bytes)
{
    void *p = arena_alloc(&g->arena, bytes);
    if (!p) mvla_fail(MVLA_ERR_NOMEM, "graph: out of memory (%zu bytes)", bytes);
    return p;
}

Tensor *graph_tensor(Graph *g, int ndim, const int *shape)
{
    if (check_shape(ndim, shape)) return NULL;
    Tensor *t = graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape);
    t->data = graph_alloc(g, (size_t)(t->numel ? t->numel : 1) * sizeof(float));
    return t->data ? t : NULL;
}

Tensor *graph_zeros(Graph *g, int ndim, const int *shape)
{
    Tensor *t = graph_tensor(g, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}

Node *graph_record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in)
{
    int needs = 0;
    for (int i = 0; i < n_in; i++) needs |= in[i] && in[i]->requires_grad;
    out->requires_grad = needs && g->grad_enabled;
    if (!out->requires_grad) return NULL;
    if (g->tape_len == g->tape_cap) {
        int cap = g->tape_cap ? g->tape_cap * 2 : 256;
        Node **bigger = realloc(g->tape, (size_t)cap * sizeof *bigger);
        if (!bigger) {
            out->requires_grad = 0;
            mvla_fail(MVLA_ERR_NOMEM, "graph: out of memory for the tape");
            return NULL;
        }
        g->tape = bigger;
        g->tape_cap = cap;
    }
    Node *n = graph_alloc(g, sizeof *n);
    if (!n) {
        out->requires_grad = 0;
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->backward = backward;
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    g->tape[g->tape_len++] = n;
    return n;
}

float *graph_grad(Graph *g, Tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) t->grad = arena_calloc(&g->arena, (size_t)(t->numel ? t->numel : 1) * sizeof(float));
    return t->grad;
}

int graph_backward(Graph *g, Tensor *out, const float *seed)
{
    if (!out) return mvla_fail(MVLA_ERR_ARG, "backward: no output tensor");
    if (!out->requires_grad) return mvla_fail(MVLA_ERR_ARG, "backward: the output does not depend on any parameter");
    if (!seed && out->numel != 1)
        return mvla_fail(MVLA_ERR_ARG, "backward: output has %ld elements; a scalar or a seed gradient is needed",
                         out->numel);
    float *gout = graph_grad(g, out);
    if (!gout) return mvla_fail(MVLA_ERR_NOMEM, "backward: out of memory");
    for (long i = 0; i < out->numel; i++) gout[i] += seed ? seed[i] : 1.0f;
    for (int i = g->tape_len - 1; i >= 0; i--) {
        Node *n = g->tape[i];
        if (n->out->grad) n->backward(g, n);
    }
    return MVLA_OK;
}
