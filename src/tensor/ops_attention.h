/* Multi-head scaled dot-product attention, one fused op with its own backward.
 *
 * Shapes (batch first, heads split from the last dimension like PyTorch / Hugging Face,
 * i.e. q.view(B, T, H, hd).transpose(1, 2)):
 *   q [B, Tq, D], k [B, Tk, D], v [B, Tk, Dv], D = n_heads * head_dim, Dv = n_heads * head_dim_v
 *   -> out [B, Tq, Dv], head h's output in columns [h * head_dim_v, (h + 1) * head_dim_v).
 * Per batch and head: out = softmax(q k^T * scale + mask) v, softmax over the keys.
 * Self-attention is Tq == Tk; cross-attention is any Tq != Tk.
 *
 * Masks (a masked key gets probability exactly 0):
 *   causal: query i sees keys j <= i + (Tk - Tq), i.e. the query and key sequences are
 *     aligned at their ends (the last query sees every key). For self-attention that is j <= i.
 *     With Tq > Tk the first Tq - Tk queries see no key at all.
 *   key_padding: NULL, or B * Tk bytes, key_padding[b * Tk + j] != 0 means key j of batch b
 *     is padding and is masked out for every query.
 * A query row whose keys are all masked outputs zeros (not NaN), and passes no gradient.
 *
 * The q/k/v/output projections are not part of the op: apply op_linear before and after. */
#ifndef MVLA_OPS_ATTENTION_H
#define MVLA_OPS_ATTENTION_H

#include "tensor/tensor.h"

/* q [B,Tq,D], k [B,Tk,D], v [B,Tk,Dv] -> [B,Tq,Dv]. scale <= 0 means 1/sqrt(D / n_heads).
 * Backward gives dq, dk, dv (the padding mask is only read during the forward pass). */
Tensor *op_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, int n_heads, int causal,
                     const unsigned char *key_padding, float scale);

#endif
