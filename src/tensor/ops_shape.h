/* Shape ops: reshape, permute, slice, concat, and lookups (embedding, index_select).
 *
 * Tensors are always contiguous row-major, so every op that changes the layout copies;
 * reshape (and flatten, squeeze, unsqueeze) shares x's data instead, which is safe because
 * step tensors are never modified after creation (the result must not outlive x's data).
 * Backward of the copies is the inverse copy *added* into the input's gradient; lookups
 * scatter-add, so a repeated index accumulates.
 *
 * Dimension arguments may be negative and count from the end as in Python (-1 is the last
 * dimension). Index arguments (ids, index, t) must lie in [0, size). Every op returns NULL
 * on bad arguments, with a message naming the op, the shapes and what was expected. */
#ifndef MVLA_OPS_SHAPE_H
#define MVLA_OPS_SHAPE_H

#include "tensor/tensor.h"

/* x [...] -> shape [ndim] with the same number of elements; one entry may be -1 (inferred).
 * Shares x's data. */
Tensor *op_reshape(Graph *g, Tensor *x, int ndim, const int *shape);
/* x [d0, ..., dk, ...] -> [d0, ..., dk * ... * d_last]: merges start_dim..last (like torch.flatten). */
Tensor *op_flatten(Graph *g, Tensor *x, int start_dim);
/* Inserts a size-1 dimension at position dim (in [-(ndim+1), ndim]), like torch.unsqueeze. */
Tensor *op_unsqueeze(Graph *g, Tensor *x, int dim);
/* Removes dimension dim, which must have size 1. */
Tensor *op_squeeze(Graph *g, Tensor *x, int dim);

/* out.shape[i] = x.shape[perm[i]]; perm (x->ndim entries) is a permutation of 0..ndim-1.
 * Fast paths: rows kept whole (e.g. [B, T, H, D] <-> [B, H, T, D]) and a swap of the last two dims. */
Tensor *op_permute(Graph *g, Tensor *x, const int *perm);
/* Swaps dimensions dim0 and dim1 (a permute). */
Tensor *op_transpose(Graph *g, Tensor *x, int dim0, int dim1);

/* x [..., S, ...] -> [..., end - start, ...]: entries start..end-1 of dimension dim (step 1).
 * start and end lie in [-S, S]; negative ones count from the end (x[..., -2:] is start -2,
 * end S); after that start <= end is required (start == end gives an empty dimension). */
Tensor *op_slice(Graph *g, Tensor *x, int dim, int start, int end);
/* n >= 1 tensors with equal shapes except along dim -> their concatenation along dim (torch.cat). */
Tensor *op_concat(Graph *g, Tensor *const *xs, int n, int dim);

/* weight [V, D], ids (ids_shape, ndim_ids <= 4 dims, each id in [0, V)) -> [ids_shape..., D].
 * ids are copied; backward scatter-adds into weight's gradient. */
Tensor *op_embedding(Graph *g, Tensor *weight, const int *ids, int ndim_ids, const int *ids_shape);
/* x [..., S, ...] -> [..., n, ...]: entries index[0..n-1] (each in [0, S), repeats allowed) of
 * dimension dim (torch.index_select). */
Tensor *op_index_select(Graph *g, Tensor *x, int dim, const int *index, int n);
/* x [B, T, ...] -> [B, ...]: row t[b] of batch b (x[arange(B), t] in PyTorch), e.g. CLIP's
 * pooling at each sequence's end-of-text token. */
Tensor *op_select_per_batch(Graph *g, Tensor *x, const int *t);
/* x [...] -> [n, ...]: n copies along a new leading dim (x.unsqueeze(0).expand(n, ...), copied),
 * e.g. learned latents [N, D] -> [B, N, D]. Backward sums the copies. */
Tensor *op_expand_leading(Graph *g, Tensor *x, int n);

#endif
