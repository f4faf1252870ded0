#include "tensor/ops_elementwise.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <stdio.h>
#include <string.h>

enum { OP_ADD, OP_SUB, OP_MUL };
static const char *const binary_names[] = {"add", "sub", "mul"};

/* ---- broadcasting ----
 * The output is walked as `rows` rows of its last dimension. For each operand, strides[d] is its
 * element stride along output dimension d (0 where it is broadcast), so the operand's offset for a
 * row comes from the row's multi-index; along the last dimension its stride is 0 or 1. */
typedef struct {
    int nd;                         /* >= 1 (a 0-d output is treated as [1]) */
    int shape[TENSOR_MAX_DIMS];     /* output shape */
    long stride[2][TENSOR_MAX_DIMS];/* stride[0]: a, stride[1]: b */
    long numel, rows, cols;
    int full[2];                    /* operand has every element of the output (no broadcast) */
} Bcast;

static void bcast_finish(Bcast *bc)
{
    bc->numel = shape_numel(bc->nd, bc->shape);
    bc->cols = bc->shape[bc->nd - 1];
    bc->rows = bc->cols ? bc->numel / bc->cols : 0;
}

/* Element strides of t, right-aligned against an nd-dim output (0 on missing or size-1 dims). */
static void operand_strides(const Tensor *t, int nd, long *stride)
{
    long s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int td = d - (nd - t->ndim);
        if (td < 0 || t->shape[td] == 1) {
            stride[d] = 0;
        } else {
            stride[d] = s;
            s *= t->shape[td];
        }
    }
}

/* Returns 0 and fills bc if a and b broadcast; the output has max(a->ndim, b->ndim) dims. */
static int bcast_init(Bcast *bc, const Tensor *a, const Tensor *b, int *out_ndim)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    *out_ndim = nd;
    bc->nd = nd ? nd : 1;
    for (int d = 0; d < bc->nd; d++) {
        int da = d - (bc->nd - a->ndim), db = d - (bc->nd - b->ndim);
        int sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) return -1;
        bc->shape[d] = sa == 1 ? sb : sa;
    }
    operand_strides(a, bc->nd, bc->stride[0]);
    operand_strides(b, bc->nd, bc->stride[1]);
    bcast_finish(bc);
    bc->full[0] = a->numel == bc->numel;
    bc->full[1] = b->numel == bc->numel;
    return 0;
}

/* Offsets of a and b at the start of output row r. */
static void row_offsets(const Bcast *bc, long r, long *off)
{
    off[0] = off[1] = 0;
    for (int d = bc->nd - 2; d >= 0; d--) {
        long i = r % bc->shape[d];
        r /= bc->shape[d];
        off[0] += i * bc->stride[0][d];
        off[1] += i * bc->stride[1][d];
    }
}

/* y[i] = a[i*sa] (op) b[i*sb] for i < n, with sa, sb in {0, 1}. */
static void combine_row(int kind, const float *a, long sa, const float *b, long sb, float *y, long n)
{
#define COMBINE_LOOP(EXPR_A, EXPR_B)                                            \
    switch (kind) {                                                             \
    case OP_ADD: for (long i = 0; i < n; i++) y[i] = (EXPR_A) + (EXPR_B); break; \
    case OP_SUB: for (long i = 0; i < n; i++) y[i] = (EXPR_A) - (EXPR_B); break; \
    default: for (long i = 0; i < n; i++) y[i] = (EXPR_A) * (EXPR_B); break;    \
    }
    if (sa && sb) {
        COMBINE_LOOP(a[i], b[i]);
    } else if (sa) {
        float v = b[0];
        COMBINE_LOOP(a[i], v);
    } else if (sb) {
        float u = a[0];
        COMBINE_LOOP(u, b[i]);
    } else {
        float u = a[0], v = b[0];
        COMBINE_LOOP(u, v);
    }
#undef COMBINE_LOOP
}

static void binary_forward(int kind, const Bcast *bc, const float *a, const float *b, float *y)
{
    if (bc->full[0] && bc->full[1]) {   /* same shape: one flat pass, in chunks */
        long chunk = 16384, nchunks = (bc->numel + chunk - 1) / chunk;
#pragma omp parallel for if (bc->numel > PAR_MIN_WORK)
        for (long c = 0; c < nchunks; c++) {
            long lo = c * chunk, n = bc->numel - lo < chunk ? bc->numel - lo : chunk;
            combine_row(kind, a + lo, 1, b + lo, 1, y + lo, n);
        }
        return;
    }
    long sa = bc->stride[0][bc->nd - 1], sb = bc->stride[1][bc->nd - 1];
#pragma omp parallel for if (bc->numel > PAR_MIN_WORK)
    for (long r = 0; r < bc->rows; r++) {
        long off[2];
        row_offsets(bc, r, off);
        combine_row(kind, a + off[0], sa, b + off[1], sb, y + r * bc->cols, bc->cols);
    }
}

/* Adds sign * dy * other (other == NULL: 1) into the gradient of operand `side`, summing over
 * the dimensions it was broadcast along. */
static void binary_grad(const Bcast *bc, int side, const float *dy, const float *other, float sign, float *dst)
{
    int oth = 1 - side;
    long sd = bc->stride[side][bc->nd - 1], so = bc->stride[oth][bc->nd - 1], cols = bc->cols;
    /* A full-size operand gets each element from one row only, so rows can run in parallel. */
#pragma omp parallel for if (bc->full[side] && bc->numel > PAR_MIN_WORK)
    for (long r = 0; r < bc->rows; r++) {
        long off[2];
        row_offsets(bc, r, off);
        const float *gy = dy + r * cols, *o = other ? other + off[oth] : NULL;
        float *d = dst + off[side];
        if (sd) {
            if (!o) for (long i = 0; i < cols; i++) d[i] += sign * gy[i];
            else if (so) for (long i = 0; i < cols; i++) d[i] += sign * gy[i] * o[i];
            else for (long i = 0; i < cols; i++) d[i] += sign * gy[i] * o[0];
        } else {
            float s = 0;
            if (!o) for (long i = 0; i < cols; i++) s += gy[i];
            else for (long i = 0; i < cols; i++) s += gy[i] * o[i * so];
            d[0] += sign * s;
        }
    }
}

static void binary_backward(Graph *g, Node *n)
{
    const Bcast *bc = n->saved;
    int kind = n->iarg[0];
    const float *dy = n->out->grad;
    for (int side = 0; side < 2; side++) {
        float *d = graph_grad(g, n->in[side]);
        if (!d) continue;
        const float *other = kind == OP_MUL ? n->in[1 - side]->data : NULL;
        float sign = kind == OP_SUB && side == 1 ? -1.0f : 1.0f;
        binary_grad(bc, side, dy, other, sign, d);
    }
}

/* Computes the op over a prepared Bcast and records it. */
static Tensor *binary_run(Graph *g, int kind, const char *name, Tensor *a, Tensor *b, const Bcast *bc, int out_ndim,
                          const int *out_shape)
{
    Tensor *y = graph_tensor(g, out_ndim, out_shape);
    if (!y) return NULL;
    binary_forward(kind, bc, a->data, b->data, y->data);
    Bcast *saved = NULL;
    if (graph_grad_enabled(g) && (a->requires_grad || b->requires_grad)) {
        if (!(saved = graph_alloc(g, sizeof *saved))) return NULL;
        *saved = *bc;
    }
    Node *n = graph_record(g, name, binary_backward, y, 2, (Tensor *[]){a, b});
    if (n) {
        n->saved = saved;
        n->iarg[0] = kind;
    }
    return y;
}

static Tensor *binary(Graph *g, int kind, Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    Bcast bc;
    int nd;
    if (bcast_init(&bc, a, b, &nd)) {
        char sa[64], sb[64];
        mvla_fail(MVLA_ERR_ARG, "%s: shapes %s and %s do not broadcast (aligned on the right, each pair of "
                  "dimensions must be equal or one of them 1)", binary_names[kind], tensor_shape_str(a, sa, sizeof sa),
                  tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    /* The output shape is bc.shape without the padding dimension of a 0-d result. */
    return binary_run(g, kind, binary_names[kind], a, b, &bc, nd, bc.shape);
}

Tensor *op_add(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_ADD, a, b); }
Tensor *op_sub(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_SUB, a, b); }
Tensor *op_mul(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_MUL, a, b); }

Tensor *op_bias(Graph *g, Tensor *x, Tensor *b)
{
    if (!x || !b) return NULL;
    if (x->ndim < 1 || b->ndim != 1 || b->shape[0] != x->shape[x->ndim - 1]) {
        char sx[64], sb[64];
        mvla_fail(MVLA_ERR_ARG, "bias: input %s, bias %s: expected input [..., C] and bias [C]",
                  tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    Bcast bc;
    int nd;
    bcast_init(&bc, x, b, &nd);
    return binary_run(g, OP_ADD, "bias", x, b, &bc, nd, bc.shape);
}

Tensor *op_bias_channels(Graph *g, Tensor *x, Tensor *b)
{
    if (!x || !b) return NULL;
    int cdim = x->ndim - 3;
    if (x->ndim < 3 || x->ndim > 4 || b->ndim != 1 || b->shape[0] != x->shape[cdim]) {
        char sx[64], sb[64];
        mvla_fail(MVLA_ERR_ARG, "bias_channels: input %s, bias %s: expected input [N, C, H, W] or [C, H, W] and bias [C]",
                  tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    /* b broadcast as [C, 1, 1]: stride 1 along the channel dimension, 0 elsewhere. */
    Bcast bc = {.nd = x->ndim};
    memcpy(bc.shape, x->shape, sizeof bc.shape);
    operand_strides(x, bc.nd, bc.stride[0]);
    for (int d = 0; d < bc.nd; d++) bc.stride[1][d] = d == cdim && b->shape[0] != 1 ? 1 : 0;
    bcast_finish(&bc);
    bc.full[0] = 1;
    bc.full[1] = b->numel == bc.numel;
    return binary_run(g, OP_ADD, "bias_channels", x, b, &bc, x->ndim, x->shape);
}

/* ---- scalar ops: y = x * s (farg[0]) + t (farg[1]) ---- */

static void affine_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    const float *dy = n->out->grad;
    float s = n->farg[0];
    long numel = n->out->numel;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long i = 0; i < numel; i++) dx[i] += s * dy[i];
}

static Tensor *affine(Graph *g, const char *name, Tensor *x, float s, float t)
{
    if (!x) return NULL;
    Tensor *y = graph_tensor(g, x->ndim, x->shape);
    if (!y) return NULL;
    long numel = x->numel;
#pragma omp parallel for if (numel > PAR_MIN_WORK)
    for (long i = 0; i < numel; i++) y->data[i] = x->data[i] * s + t;
    Node *n = graph_record(g, name, affine_backward, y, 1, &x);
    if (n) n->farg[0] = s;
    return y;
}

Tensor *op_scale(Graph *g, Tensor *x, float s) { return affine(g, "scale", x, s, 0.0f); }
Tensor *op_add_scalar(Graph *g, Tensor *x, float s) { return affine(g, "add_scalar", x, 1.0f, s); }

/* ---- reductions ----
 * x is viewed as [outer, n, inner] and reduced over n: y[o, i] = scale * sum_k x[o, k, i].
 * iarg: outer, n, inner; farg[0]: scale (1 for sums, 1/n for means). */

static void reduce_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (!dx) return;
    long outer = n->iarg[0], len = n->iarg[1], inner = n->iarg[2];
    float scale = n->farg[0];
    const float *dy = n->out->grad;
#pragma omp parallel for if (outer * len * inner > PAR_MIN_WORK)
    for (long o = 0; o < outer; o++)
        for (long k = 0; k < len; k++) {
            float *d = dx + (o * len + k) * inner;
            const float *gy = dy + o * inner;
            for (long i = 0; i < inner; i++) d[i] += scale * gy[i];
        }
}

static Tensor *reduce(Graph *g, const char *name, Tensor *x, long outer, long len, long inner, int is_mean,
                      int out_ndim, const int *out_shape)
{
    Tensor *y = graph_tensor(g, out_ndim, out_shape);
    if (!y) return NULL;
    float scale = is_mean ? 1.0f / (float)len : 1.0f;
    if (outer == 1 && inner == 1) {     /* everything into one number: accumulate in double */
        double s = 0;
#pragma omp parallel for reduction(+ : s) if (len > PAR_MIN_WORK)
        for (long k = 0; k < len; k++) s += x->data[k];
        y->data[0] = (float)(is_mean ? s / (double)len : s);
    } else {
#pragma omp parallel for if (outer * len * inner > PAR_MIN_WORK)
        for (long o = 0; o < outer; o++) {
            float *yo = y->data + o * inner;
            for (long i = 0; i < inner; i++) yo[i] = 0;
            for (long k = 0; k < len; k++) {
                const float *xk = x->data + (o * len + k) * inner;
                for (long i = 0; i < inner; i++) yo[i] += xk[i];
            }
            for (long i = 0; i < inner; i++) yo[i] *= scale;
        }
    }
    Node *n = graph_record(g, name, reduce_backward, y, 1, &x);
    if (n) {
        n->iarg[0] = (int)outer, n->iarg[1] = (int)len, n->iarg[2] = (int)inner;
        n->farg[0] = scale;
    }
    return y;
}

static Tensor *reduce_all(Graph *g, Tensor *x, int is_mean)
{
    if (!x) return NULL;
    if (is_mean && x->numel == 0) {
        mvla_fail(MVLA_ERR_ARG, "mean: the input is empty");
        return NULL;
    }
    if (x->numel > 0x7fffffffL) {
        mvla_fail(MVLA_ERR_ARG, "%s: %ld elements, at most 2^31-1 supported", is_mean ? "mean" : "sum", x->numel);
        return NULL;
    }
    return reduce(g, is_mean ? "mean" : "sum", x, 1, x->numel, 1, is_mean, 0, NULL);
}

Tensor *op_sum(Graph *g, Tensor *x) { return reduce_all(g, x, 0); }
Tensor *op_mean(Graph *g, Tensor *x) { return reduce_all(g, x, 1); }

static Tensor *reduce_dim(Graph *g, Tensor *x, int dim, int keepdim, int is_mean)
{
    if (!x) return NULL;
    const char *name = is_mean ? "mean_dim" : "sum_dim";
    char sx[64];
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d < 0 || d >= x->ndim) {
        mvla_fail(MVLA_ERR_ARG, "%s: dimension %d out of range for input %s (expected -%d..%d)", name, dim,
                  tensor_shape_str(x, sx, sizeof sx), x->ndim, x->ndim - 1);
        return NULL;
    }
    if (is_mean && x->shape[d] == 0) {
        mvla_fail(MVLA_ERR_ARG, "%s: dimension %d of input %s is empty", name, dim, tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    long outer = shape_numel(d, x->shape), inner = shape_numel(x->ndim - d - 1, x->shape + d + 1);
    if (outer > 0x7fffffffL || inner > 0x7fffffffL) {
        mvla_fail(MVLA_ERR_ARG, "%s: input %s too large", name, tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS], nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != d) shape[nd++] = x->shape[i];
        else if (keepdim) shape[nd++] = 1;
    }
    return reduce(g, name, x, outer, x->shape[d], inner, is_mean, nd, shape);
}

Tensor *op_sum_dim(Graph *g, Tensor *x, int dim, int keepdim) { return reduce_dim(g, x, dim, keepdim, 0); }
Tensor *op_mean_dim(Graph *g, Tensor *x, int dim, int keepdim) { return reduce_dim(g, x, dim, keepdim, 1); }
