#include "tensor/ops_shape.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <stdio.h>
#include <string.h>

static void copy_or_add(float *dst, const float *src, long n, int add)
{
    if (add)
        for (long i = 0; i < n; i++) dst[i] += src[i];
    else
        memcpy(dst, src, (size_t)n * sizeof(float));
}

/* dim in [-ndim, ndim) -> [0, ndim), or -1 if out of range. */
static int norm_dim(int dim, int ndim)
{
    if (dim < 0) dim += ndim;
    return dim >= 0 && dim < ndim ? dim : -1;
}

/* x viewed as [outer, shape[dim], inner]. */
static void split_at(const Tensor *x, int dim, long *outer, long *inner)
{
    *outer = shape_numel(dim, x->shape);
    *inner = shape_numel(x->ndim - dim - 1, x->shape + dim + 1);
}

/* ---- reshape family: a new header over x's data ---- */

static void reshape_backward(Graph *g, Node *n)
{
    float *dx = graph_grad(g, n->in[0]);
    if (dx) copy_or_add(dx, n->out->grad, n->out->numel, 1);
}

/* shape is fully known and has x's element count. */
static Tensor *alias(Graph *g, Tensor *x, int ndim, const int *shape)
{
    Tensor *y = graph_alloc(g, sizeof *y);
    if (!y) return NULL;
    memset(y, 0, sizeof *y);
    y->ndim = ndim;
    for (int i = 0; i < TENSOR_MAX_DIMS; i++) y->shape[i] = i < ndim ? shape[i] : 1;
    y->numel = x->numel;
    y->data = x->data;
    graph_record(g, "reshape", reshape_backward, y, 1, &x);
    return y;
}

Tensor *op_reshape(Graph *g, Tensor *x, int ndim, const int *shape)
{
    if (!x) return NULL;
    char sx[64];
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS || (ndim > 0 && !shape)) {
        mvla_fail(MVLA_ERR_ARG, "reshape: input %s to %d dimensions: expected 0..%d dimensions",
                  tensor_shape_str(x, sx, sizeof sx), ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    int s[TENSOR_MAX_DIMS], infer = -1, bad = 0;
    long known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0) infer = i;
        else if (s[i] < 0) bad = 1;
        else known *= s[i];
    }
    if (!bad && infer >= 0) {
        if (known == 0 || x->numel % known) bad = 1;
        else s[infer] = (int)(x->numel / known);
    }
    if (bad || shape_numel(ndim, s) != x->numel) {
        char want[96];
        size_t used = (size_t)snprintf(want, sizeof want, "[");
        for (int i = 0; i < ndim && used < sizeof want; i++)
            used += (size_t)snprintf(want + used, sizeof want - used, "%s%d", i ? ", " : "", shape[i]);
        if (used < sizeof want) snprintf(want + used, sizeof want - used, "]");
        mvla_fail(MVLA_ERR_ARG, "reshape: cannot view input %s (%ld elements) as %s: expected the same element count, "
                  "sizes >= 0 and at most one -1", tensor_shape_str(x, sx, sizeof sx), x->numel, want);
        return NULL;
    }
    return alias(g, x, ndim, s);
}

Tensor *op_flatten(Graph *g, Tensor *x, int start_dim)
{
    if (!x) return NULL;
    char sx[64];
    int d = x->ndim ? norm_dim(start_dim, x->ndim) : (start_dim == 0 || start_dim == -1 ? 0 : -1);
    if (d < 0) {
        mvla_fail(MVLA_ERR_ARG, "flatten: start_dim %d out of range for input %s", start_dim,
                  tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int s[TENSOR_MAX_DIMS];
    for (int i = 0; i < d; i++) s[i] = x->shape[i];
    s[d] = (int)shape_numel(x->ndim - d, x->shape + d);
    return alias(g, x, d + 1, s);
}

Tensor *op_unsqueeze(Graph *g, Tensor *x, int dim)
{
    if (!x) return NULL;
    char sx[64];
    int d = norm_dim(dim, x->ndim + 1);
    if (d < 0 || x->ndim == TENSOR_MAX_DIMS) {
        mvla_fail(MVLA_ERR_ARG, "unsqueeze: dim %d for input %s: expected a dim in [%d, %d] and fewer than %d dimensions",
                  dim, tensor_shape_str(x, sx, sizeof sx), -x->ndim - 1, x->ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    int s[TENSOR_MAX_DIMS];
    for (int i = 0, j = 0; i <= x->ndim; i++) s[i] = i == d ? 1 : x->shape[j++];
    return alias(g, x, x->ndim + 1, s);
}

Tensor *op_squeeze(Graph *g, Tensor *x, int dim)
{
    if (!x) return NULL;
    char sx[64];
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || x->shape[d] != 1) {
        mvla_fail(MVLA_ERR_ARG, "squeeze: dim %d of input %s: expected an existing dimension of size 1", dim,
                  tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int s[TENSOR_MAX_DIMS];
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != d) s[j++] = x->shape[i];
    return alias(g, x, x->ndim - 1, s);
}

/* ---- permute ---- */

/* dst (+)= each [R, C] matrix of src transposed, in 32x32 tiles. */
static void transpose_batched(const float *src, float *dst, long batch, long R, long C, int add)
{
    enum { TB = 32 };
    long tr = (R + TB - 1) / TB, tc = (C + TB - 1) / TB, tiles = batch * tr * tc;
#pragma omp parallel for schedule(static) if (batch * R * C > PAR_MIN_WORK)
    for (long t = 0; t < tiles; t++) {
        long b = t / (tr * tc), r0 = t / tc % tr * TB, c0 = t % tc * TB;
        long r1 = r0 + TB < R ? r0 + TB : R, c1 = c0 + TB < C ? c0 + TB : C;
        const float *s = src + b * R * C;
        float *d = dst + b * R * C;
        for (long c = c0; c < c1; c++)
            for (long r = r0; r < r1; r++) {
                if (add) d[c * R + r] += s[r * C + c];
                else d[c * R + r] = s[r * C + c];
            }
    }
}

/* dst (+)= src permuted: src has `shape` (nd dims), dst has shape[perm[i]] in position i.
 * Size-1 dims are dropped and output dims that stay neighbours in src are merged first, so
 * e.g. [B, T, H, D] -> [B, H, T, D] moves whole rows of D and [B, T, H, D] -> [B, H, D, T]
 * becomes a batched 2-D transpose. */
static void permute_data(const float *src, float *dst, int nd, const int *shape, const int *perm, int add)
{
    long numel = shape_numel(nd, shape);
    if (numel == 0) return;
    /* Drop size-1 dims: p[] lists the kept output dims by their kept input index. */
    int newidx[TENSOR_MAX_DIMS], p[TENSOR_MAX_DIMS], np = 0, nk = 0;
    for (int i = 0; i < nd; i++) newidx[i] = shape[i] > 1 ? nk++ : -1;
    for (int i = 0; i < nd; i++)
        if (newidx[perm[i]] >= 0) p[np++] = newidx[perm[i]];
    long kshape[TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        if (newidx[i] >= 0) kshape[newidx[i]] = shape[i];
    /* Merge runs p[i] == p[i-1] + 1 into groups; group k starts at input dim first[k]. */
    int first[TENSOR_MAX_DIMS], ng = 0;
    long gsize[TENSOR_MAX_DIMS];
    for (int i = 0; i < np; i++) {
        if (i == 0 || p[i] != p[i - 1] + 1) first[ng] = p[i], gsize[ng++] = 1;
        gsize[ng - 1] *= kshape[p[i]];
    }
    /* Reduced problem: input dims are the groups in input order; rank[k] = input position of group k. */
    int rank[TENSOR_MAX_DIMS];
    long in_shape[TENSOR_MAX_DIMS], in_stride[TENSOR_MAX_DIMS];
    for (int k = 0; k < ng; k++) {
        rank[k] = 0;
        for (int j = 0; j < ng; j++) rank[k] += first[j] < first[k];
        in_shape[rank[k]] = gsize[k];
    }
    long s = 1;
    for (int i = ng - 1; i >= 0; i--) in_stride[i] = s, s *= in_shape[i];
    if (ng <= 1) {
        copy_or_add(dst, src, numel, add);
        return;
    }
    int swap_last2 = rank[ng - 1] == ng - 2 && rank[ng - 2] == ng - 1;
    for (int k = 0; k < ng - 2; k++) swap_last2 &= rank[k] == k;
    if (swap_last2) {
        /* Only the last two reduced dims swap: a batch of 2-D transposes. */
        transpose_batched(src, dst, numel / (gsize[ng - 1] * gsize[ng - 2]), in_shape[ng - 2], in_shape[ng - 1], add);
        return;
    }
    long len = gsize[ng - 1], step = in_stride[rank[ng - 1]], rows = numel / len;
#pragma omp parallel for schedule(static) if (numel > PAR_MIN_WORK)
    for (long r = 0; r < rows; r++) {
        long rem = r, off = 0;
        for (int k = ng - 2; k >= 0; k--) {
            off += rem % gsize[k] * in_stride[rank[k]];
            rem /= gsize[k];
        }
        const float *sp = src + off;
        float *dp = dst + r * len;
        if (step == 1) copy_or_add(dp, sp, len, add);
        else if (add)
            for (long j = 0; j < len; j++) dp[j] += sp[j * step];
        else
            for (long j = 0; j < len; j++) dp[j] = sp[j * step];
    }
}

static void permute_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    int nd = x->ndim, inv[TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++) inv[n->iarg[i]] = i;
    permute_data(n->out->grad, dx, nd, n->out->shape, inv, 1);
}

Tensor *op_permute(Graph *g, Tensor *x, const int *perm)
{
    if (!x) return NULL;
    char sx[64], sp[64] = "(none)";
    int nd = x->ndim, seen = 0, p[TENSOR_MAX_DIMS], ok = perm || nd == 0;
    for (int i = 0; ok && i < nd; i++) {
        p[i] = norm_dim(perm[i], nd);
        ok = p[i] >= 0 && !(seen & (1 << p[i]));
        if (ok) seen |= 1 << p[i];
    }
    if (!ok) {
        if (perm) {
            size_t used = (size_t)snprintf(sp, sizeof sp, "(");
            for (int i = 0; i < nd && used < sizeof sp; i++)
                used += (size_t)snprintf(sp + used, sizeof sp - used, "%s%d", i ? ", " : "", perm[i]);
            if (used < sizeof sp) snprintf(sp + used, sizeof sp - used, ")");
        }
        mvla_fail(MVLA_ERR_ARG, "permute: input %s, perm %s: expected a permutation of 0..%d",
                  tensor_shape_str(x, sx, sizeof sx), sp, nd - 1);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = x->shape[p[i]];
    Tensor *y = graph_tensor(g, nd, shape);
    if (!y) return NULL;
    permute_data(x->data, y->data, nd, x->shape, p, 0);
    Node *n = graph_record(g, "permute", permute_backward, y, 1, &x);
    if (n)
        for (int i = 0; i < nd; i++) n->iarg[i] = p[i];
    return y;
}

Tensor *op_transpose(Graph *g, Tensor *x, int dim0, int dim1)
{
    if (!x) return NULL;
    char sx[64];
    int d0 = norm_dim(dim0, x->ndim), d1 = norm_dim(dim1, x->ndim);
    if (d0 < 0 || d1 < 0) {
        mvla_fail(MVLA_ERR_ARG, "transpose: dims %d and %d out of range for input %s (%d dimensions)", dim0, dim1,
                  tensor_shape_str(x, sx, sizeof sx), x->ndim);
        return NULL;
    }
    int p[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) p[i] = i;
    p[d0] = d1, p[d1] = d0;
    return op_permute(g, x, p);
}

/* ---- slice and concat ---- */

/* iarg: dim, start. */
static void slice_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    int dim = n->iarg[0], start = n->iarg[1];
    long outer, inner, S = x->shape[dim], L = n->out->shape[dim];
    split_at(x, dim, &outer, &inner);
    const float *dy = n->out->grad;
#pragma omp parallel for schedule(static) if (n->out->numel > PAR_MIN_WORK)
    for (long o = 0; o < outer; o++) copy_or_add(dx + (o * S + start) * inner, dy + o * L * inner, L * inner, 1);
}

Tensor *op_slice(Graph *g, Tensor *x, int dim, int start, int end)
{
    if (!x) return NULL;
    char sx[64];
    int d = norm_dim(dim, x->ndim);
    int S = d >= 0 ? x->shape[d] : 0;
    int s = start < 0 ? start + S : start, e = end < 0 ? end + S : end;
    if (d < 0 || s < 0 || e > S || s > e) {
        mvla_fail(MVLA_ERR_ARG, "slice: input %s, dim %d, range %d:%d: expected an existing dim and "
                  "0 <= start <= end <= size (negatives count from the end)", tensor_shape_str(x, sx, sizeof sx), dim,
                  start, end);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = e - s;
    Tensor *y = graph_tensor(g, x->ndim, shape);
    if (!y) return NULL;
    long outer, inner, L = e - s;
    split_at(x, d, &outer, &inner);
#pragma omp parallel for schedule(static) if (y->numel > PAR_MIN_WORK)
    for (long o = 0; o < outer; o++)
        copy_or_add(y->data + o * L * inner, x->data + (o * S + s) * inner, L * inner, 0);
    Node *n = graph_record(g, "slice", slice_backward, y, 1, &x);
    if (n) n->iarg[0] = d, n->iarg[1] = s;
    return y;
}

/* iarg: dim. Input k occupies positions [off_k, off_k + size_k) of dim in the output. */
static void concat_backward(Graph *g, Node *n)
{
    int dim = n->iarg[0];
    long outer, inner, T = n->out->shape[dim], off = 0;
    split_at(n->out, dim, &outer, &inner);
    const float *dy = n->out->grad;
    for (int k = 0; k < n->n_in; k++) {
        Tensor *x = n->in[k];
        long S = x->shape[dim];
        float *dx = graph_grad(g, x);
        if (dx) {
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN_WORK)
            for (long o = 0; o < outer; o++) copy_or_add(dx + o * S * inner, dy + (o * T + off) * inner, S * inner, 1);
        }
        off += S;
    }
}

/* Concatenates at most NODE_MAX_INPUTS tensors (already validated). */
static Tensor *concat_group(Graph *g, Tensor *const *xs, int n, int dim)
{
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n; k++) shape[dim] += xs[k]->shape[dim];
    Tensor *y = graph_tensor(g, xs[0]->ndim, shape);
    if (!y) return NULL;
    long outer, inner, T = shape[dim], off = 0;
    split_at(y, dim, &outer, &inner);
    for (int k = 0; k < n; k++) {
        long S = xs[k]->shape[dim];
        const float *src = xs[k]->data;
#pragma omp parallel for schedule(static) if (xs[k]->numel > PAR_MIN_WORK)
        for (long o = 0; o < outer; o++) copy_or_add(y->data + (o * T + off) * inner, src + o * S * inner, S * inner, 0);
        off += S;
    }
    Node *nd = graph_record(g, "concat", concat_backward, y, n, xs);
    if (nd) nd->iarg[0] = dim;
    return y;
}

Tensor *op_concat(Graph *g, Tensor *const *xs, int n, int dim)
{
    if (!xs || n < 1) {
        mvla_fail(MVLA_ERR_ARG, "concat: %d inputs: expected at least 1", n);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!xs[k]) return NULL;
    char s0[64], sk[64];
    int d = norm_dim(dim, xs[0]->ndim);
    if (d < 0) {
        mvla_fail(MVLA_ERR_ARG, "concat: dim %d out of range for input 0 %s", dim, tensor_shape_str(xs[0], s0, sizeof s0));
        return NULL;
    }
    for (int k = 1; k < n; k++) {
        int ok = xs[k]->ndim == xs[0]->ndim;
        for (int i = 0; ok && i < xs[0]->ndim; i++) ok = i == d || xs[k]->shape[i] == xs[0]->shape[i];
        if (!ok) {
            mvla_fail(MVLA_ERR_ARG, "concat: input %d %s does not match input 0 %s: expected equal shapes except dim %d",
                      k, tensor_shape_str(xs[k], sk, sizeof sk), tensor_shape_str(xs[0], s0, sizeof s0), d);
            return NULL;
        }
    }
    /* A node holds NODE_MAX_INPUTS inputs: longer lists are joined in groups. */
    int m = n < NODE_MAX_INPUTS ? n : NODE_MAX_INPUTS;
    Tensor *y = concat_group(g, xs, m, d);
    for (int k = m; y && k < n; k += NODE_MAX_INPUTS - 1) {
        Tensor *group[NODE_MAX_INPUTS] = {y};
        int c = n - k < NODE_MAX_INPUTS - 1 ? n - k : NODE_MAX_INPUTS - 1;
        for (int j = 0; j < c; j++) group[1 + j] = xs[k + j];
        y = concat_group(g, group, 1 + c, d);
    }
    return y;
}

/* ---- lookups ---- */

/* dst[o, i, :] = src[o, index[i], :] for src [outer, S, inner], dst [outer, n, inner]. */
static void gather(const float *src, float *dst, long outer, long S, long inner, const int *index, long n)
{
#pragma omp parallel for schedule(static) if (outer * n * inner > PAR_MIN_WORK)
    for (long r = 0; r < outer * n; r++) {
        long o = r / n, i = r % n;
        memcpy(dst + r * inner, src + (o * S + index[i]) * inner, (size_t)inner * sizeof(float));
    }
}

/* The adjoint of gather: dsrc[o, index[i], :] += ddst[o, i, :]; repeated indices accumulate,
 * so threads split only the outer dimension. */
static void scatter_add(float *dsrc, const float *ddst, long outer, long S, long inner, const int *index, long n)
{
#pragma omp parallel for schedule(static) if (outer > 1 && outer * n * inner > PAR_MIN_WORK)
    for (long o = 0; o < outer; o++)
        for (long i = 0; i < n; i++) copy_or_add(dsrc + (o * S + index[i]) * inner, ddst + (o * n + i) * inner, inner, 1);
}

/* Node layout shared by embedding and index_select: iarg = dim, n; saved = the indices. */
static void gather_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    int dim = n->iarg[0];
    long outer, inner;
    split_at(x, dim, &outer, &inner);
    scatter_add(dx, n->out->grad, outer, x->shape[dim], inner, n->saved, n->iarg[1]);
}

/* Copies the indices into the arena for backward, if a node was recorded. */
static void save_indices(Graph *g, Node *n, int dim, const int *index, long count)
{
    if (!n) return;
    int *copy = graph_alloc(g, (size_t)(count ? count : 1) * sizeof(int));
    if (!copy) {
        n->out->requires_grad = 0;   /* out of memory: no gradient flows through this node */
        n->iarg[1] = 0;
        return;
    }
    if (count) memcpy(copy, index, (size_t)count * sizeof(int));
    n->saved = copy;
    n->iarg[0] = dim, n->iarg[1] = (int)count;
}

/* Index i of index[0..n-1] outside [0, S), or -1. */
static long first_bad_index(const int *index, long n, int S)
{
    for (long i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= S) return i;
    return -1;
}

Tensor *op_embedding(Graph *g, Tensor *weight, const int *ids, int ndim_ids, const int *ids_shape)
{
    if (!weight) return NULL;
    char sw[64];
    tensor_shape_str(weight, sw, sizeof sw);
    if (weight->ndim != 2) {
        mvla_fail(MVLA_ERR_ARG, "embedding: weight %s: expected [V, D]", sw);
        return NULL;
    }
    int ok = ndim_ids >= 0 && ndim_ids < TENSOR_MAX_DIMS && (ndim_ids == 0 || ids_shape);
    for (int i = 0; ok && i < ndim_ids; i++) ok = ids_shape[i] >= 0;
    long count = ok ? shape_numel(ndim_ids, ids_shape) : 0;
    if (!ok || (count > 0 && !ids)) {
        mvla_fail(MVLA_ERR_ARG, "embedding: %d-dimensional ids for weight %s: expected 0..%d dimensions of size >= 0 "
                  "and an id array", ndim_ids, sw, TENSOR_MAX_DIMS - 1);
        return NULL;
    }
    int V = weight->shape[0], D = weight->shape[1];
    long bad = first_bad_index(ids, count, V);
    if (bad >= 0) {
        mvla_fail(MVLA_ERR_ARG, "embedding: id %d (position %ld) is outside [0, %d) for weight %s", ids[bad], bad, V, sw);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < ndim_ids; i++) shape[i] = ids_shape[i];
    shape[ndim_ids] = D;
    Tensor *y = graph_tensor(g, ndim_ids + 1, shape);
    if (!y) return NULL;
    gather(weight->data, y->data, 1, V, D, ids, count);
    save_indices(g, graph_record(g, "embedding", gather_backward, y, 1, &weight), 0, ids, count);
    return y;
}

Tensor *op_index_select(Graph *g, Tensor *x, int dim, const int *index, int n)
{
    if (!x) return NULL;
    char sx[64];
    int d = norm_dim(dim, x->ndim);
    if (d < 0 || n < 0 || (n > 0 && !index)) {
        mvla_fail(MVLA_ERR_ARG, "index_select: input %s, dim %d, %d indices: expected an existing dim and n >= 0 indices",
                  tensor_shape_str(x, sx, sizeof sx), dim, n);
        return NULL;
    }
    long bad = first_bad_index(index, n, x->shape[d]);
    if (bad >= 0) {
        mvla_fail(MVLA_ERR_ARG, "index_select: index %d (position %ld) is outside [0, %d) for dim %d of input %s",
                  index[bad], bad, x->shape[d], d, tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = n;
    Tensor *y = graph_tensor(g, x->ndim, shape);
    if (!y) return NULL;
    long outer, inner;
    split_at(x, d, &outer, &inner);
    gather(x->data, y->data, outer, x->shape[d], inner, index, n);
    save_indices(g, graph_record(g, "index_select", gather_backward, y, 1, &x), d, index, n);
    return y;
}

/* saved: t (B entries). */
static void select_per_batch_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    const int *t = n->saved;
    long B = x->shape[0], T = x->shape[1], inner = shape_numel(x->ndim - 2, x->shape + 2);
    for (long b = 0; b < B; b++) copy_or_add(dx + (b * T + t[b]) * inner, n->out->grad + b * inner, inner, 1);
}

Tensor *op_select_per_batch(Graph *g, Tensor *x, const int *t)
{
    if (!x) return NULL;
    char sx[64];
    if (x->ndim < 2 || (x->shape[0] > 0 && !t)) {
        mvla_fail(MVLA_ERR_ARG, "select_per_batch: input %s: expected [B, T, ...] and B indices",
                  tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int B = x->shape[0], T = x->shape[1];
    long bad = first_bad_index(t, B, T);
    if (bad >= 0) {
        mvla_fail(MVLA_ERR_ARG, "select_per_batch: index %d for batch %ld is outside [0, %d) for input %s", t[bad], bad,
                  T, tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    shape[0] = B;
    for (int i = 2; i < x->ndim; i++) shape[i - 1] = x->shape[i];
    Tensor *y = graph_tensor(g, x->ndim - 1, shape);
    if (!y) return NULL;
    long inner = shape_numel(x->ndim - 2, x->shape + 2);
    for (long b = 0; b < B; b++) copy_or_add(y->data + b * inner, x->data + (b * T + t[b]) * inner, inner, 0);
    Node *n = graph_record(g, "select_per_batch", select_per_batch_backward, y, 1, &x);
    if (n) {
        int *copy = graph_alloc(g, (size_t)(B ? B : 1) * sizeof(int));
        if (copy) {
            if (B) memcpy(copy, t, (size_t)B * sizeof(int));
            n->saved = copy;
        } else {
            y->requires_grad = 0;
        }
    }
    return y;
}

/* ---- expand ---- */

static void expand_leading_backward(Graph *g, Node *n)
{
    Tensor *x = n->in[0];
    float *dx = graph_grad(g, x);
    if (!dx) return;
    long m = x->numel, copies = n->iarg[0];
    const float *dy = n->out->grad;
#pragma omp parallel for schedule(static) if (n->out->numel > PAR_MIN_WORK)
    for (long i = 0; i < m; i++) {
        float s = 0;
        for (long k = 0; k < copies; k++) s += dy[k * m + i];
        dx[i] += s;
    }
}

Tensor *op_expand_leading(Graph *g, Tensor *x, int n)
{
    if (!x) return NULL;
    char sx[64];
    if (n < 0 || x->ndim == TENSOR_MAX_DIMS) {
        mvla_fail(MVLA_ERR_ARG, "expand_leading: %d copies of input %s: expected n >= 0 and fewer than %d dimensions", n,
                  tensor_shape_str(x, sx, sizeof sx), TENSOR_MAX_DIMS);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    shape[0] = n;
    for (int i = 0; i < x->ndim; i++) shape[i + 1] = x->shape[i];
    Tensor *y = graph_tensor(g, x->ndim + 1, shape);
    if (!y) return NULL;
#pragma omp parallel for schedule(static) if (y->numel > PAR_MIN_WORK)
    for (long k = 0; k < n; k++) copy_or_add(y->data + k * x->numel, x->data, x->numel, 0);
    Node *nd = graph_record(g, "expand_leading", expand_leading_backward, y, 1, &x);
    if (nd) nd->iarg[0] = n;
    return y;
}
