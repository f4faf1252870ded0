/* Tensors and the autograd tape.
 *
 * A Tensor is a contiguous, row-major fp32 array of up to TENSOR_MAX_DIMS dimensions.
 * Two lifetimes:
 *   - persistent tensors (parameters, buffers, inputs you own): tensor_new / tensor_free,
 *     malloc'd; a parameter gets a persistent grad buffer with tensor_requires_grad.
 *   - step tensors: every op result, allocated in a Graph's arena; they vanish at graph_reset.
 *
 * Every op takes the Graph first: `Tensor *y = op_relu(g, x);`. When gradients are enabled
 * and an input requires grad, the op records a Node on the tape: its inputs, output, and a
 * backward function that adds d(loss)/d(input) into each input's grad. graph_backward walks
 * the tape in reverse. With graph_set_grad(g, 0) ("no_grad") nothing is recorded.
 * An op returns NULL on failure (bad shapes, out of memory) with the message in
 * mvla_error_message(); passing NULL into an op returns NULL, so a chain can be checked once. */
#ifndef MVLA_TENSOR_H
#define MVLA_TENSOR_H

#include "base/arena.h"
#include "base/rng.h"

#include <stddef.h>

#define TENSOR_MAX_DIMS 5

typedef struct Tensor {
    float *data;
    float *grad;            /* d(loss)/d(this); NULL until a gradient reaches it */
    int shape[TENSOR_MAX_DIMS];
    int ndim;
    int requires_grad;
    int persistent;         /* 1: malloc'd by tensor_new, owned by the caller */
    long numel;
    const char *name;       /* optional (parameters: the checkpoint name) */
} Tensor;

/* ---- persistent tensors ---- */
/* Zero-filled tensor; NULL on bad shape or out of memory. */
Tensor *tensor_new(int ndim, const int *shape);
/* Shape as a literal list: tensor_new_shape(2, 3, 4) is 3x4. */
Tensor *tensor_new_shape(int ndim, ...);
void tensor_free(Tensor *t);
/* Marks t as a parameter: allocates its persistent, zeroed grad. Returns 0 or an error. */
int tensor_requires_grad(Tensor *t);
void tensor_zero_grad(Tensor *t);

/* ---- helpers ---- */
long shape_numel(int ndim, const int *shape);
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* "[2, 3, 4]" into buf; returns buf. */
char *tensor_shape_str(const Tensor *t, char *buf, size_t n);
void tensor_fill(Tensor *t, float v);
void tensor_fill_normal(Tensor *t, Rng *r, float std);
void tensor_fill_uniform(Tensor *t, Rng *r, float lo, float hi);
void tensor_copy_data(Tensor *dst, const Tensor *src); /* same numel */

/* ---- graph (tape + arena) ---- */
typedef struct Graph Graph;
typedef struct Node Node;
typedef void (*BackwardFn)(Graph *g, Node *n);

#define NODE_MAX_INPUTS 8

struct Node {
    BackwardFn backward;
    const char *op;            /* op name, for debugging */
    Tensor *out;
    Tensor *in[NODE_MAX_INPUTS];
    int n_in;
    int iarg[8];               /* op-specific integers (axes, strides, flags) */
    float farg[4];             /* op-specific floats (eps, slope, ...) */
    void *saved;               /* op-specific buffers, in the graph arena */
    void *saved2;
};

Graph *graph_new(void);
void graph_free(Graph *g);
/* Forgets the tape and frees every step tensor (parameters and their grads stay). */
void graph_reset(Graph *g);
/* enabled = 0 is no_grad mode: ops record nothing. Returns the previous setting. */
int graph_set_grad(Graph *g, int enabled);
int graph_grad_enabled(const Graph *g);
/* Number of nodes on the tape. */
int graph_tape_len(const Graph *g);
Arena *graph_arena(Graph *g);

/* A step tensor with uninitialised (tensor_empty) or zeroed (tensor_zeros) data. */
Tensor *graph_tensor(Graph *g, int ndim, const int *shape);
Tensor *graph_zeros(Graph *g, int ndim, const int *shape);
/* Scratch memory valid until graph_reset (e.g. saved buffers for backward). */
void *graph_alloc(Graph *g, size_t bytes);

/* Ops call this after computing their output. Returns the node to fill in (iarg, saved...),
 * or NULL when nothing is recorded (no_grad, or no input requires grad). Sets
 * out->requires_grad accordingly. NULL entries in `in` are allowed (optional inputs). */
Node *graph_record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in);

/* For backward functions: t's grad buffer, allocated zero-filled in the arena on first use.
 * Returns NULL if t does not require grad (the caller then skips that input). */
float *graph_grad(Graph *g, Tensor *t);

/* Backpropagates from `out`. seed == NULL: out must have one element and its gradient is 1.
 * Otherwise seed (out->numel floats) is the gradient of the loss with respect to out. */
int graph_backward(Graph *g, Tensor *out, const float *seed);

#endif
