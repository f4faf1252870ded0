/* A small pre-norm transformer encoder over [B, T, D] sequences, used by the instruction encoder
 * and the policy's temporal head. Each layer:
 *   x = x + dropout(out(attention(ln1(x))))        q, k, v, out: linear D -> D, `heads` heads
 *   x = x + dropout(fc2(gelu(fc1(ln2(x)))))        fc1: D -> ff, fc2: ff -> D
 * then a final layer norm. Checkpoint names under the prefix:
 *   <p>.layers.<l>.{ln1,ln2}.{weight,bias}, <p>.layers.<l>.attn.{q,k,v,out}.{weight,bias},
 *   <p>.layers.<l>.mlp.{fc1,fc2}.{weight,bias}, <p>.ln_f.{weight,bias}
 * Layer norms and biases carry no weight decay. */
#ifndef MVLA_TINY_TRANSFORMER_H
#define MVLA_TINY_TRANSFORMER_H

#include "nn/linear.h"

#define TINY_TRANSFORMER_MAX_LAYERS 8

typedef struct {
    Tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    Linear q, k, v, out, fc1, fc2;
} TinyTransformerLayer;

typedef struct {
    int dim, heads, ff, layers;
    TinyTransformerLayer layer[TINY_TRANSFORMER_MAX_LAYERS];
    Tensor *lnf_w, *lnf_b;
} TinyTransformer;

int tiny_transformer_init(TinyTransformer *t, ParamList *p, const char *prefix, int dim, int heads, int ff, int layers,
                          Rng *rng);
/* x [B, T, D] -> [B, T, D]. causal: position i attends to j <= i. key_padding: NULL or B*T bytes,
 * nonzero = that position is padding (no query attends to it). Dropout only when training. */
Tensor *tiny_transformer_forward(Graph *g, const TinyTransformer *t, Tensor *x, int causal,
                                 const unsigned char *key_padding, float dropout, int training, Rng *rng);

#endif
