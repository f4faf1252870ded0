/* The pre-LN transformer encoder block shared by CLIP's vision and text towers (and any other
 * model with the same layout):
 *   x = x + out_proj(MHA(layer_norm1(x)))          (q, k, v, out projections with biases)
 *   x = x + fc2(act(fc1(layer_norm2(x))))
 * Checkpoint names are Hugging Face's (relative to the block prefix, e.g. "vision_model.encoder.layers.3"):
 *   layer_norm1.{weight,bias} [D], self_attn.{q,k,v,out}_proj.{weight [D, D], bias [D]},
 *   layer_norm2.{weight,bias} [D], mlp.fc1.{weight [F, D], bias [F]}, mlp.fc2.{weight [D, F], bias [D]}.
 * The block does not own its tensors; its model does. */
#ifndef MVLA_MODELS_TRANSFORMER_H
#define MVLA_MODELS_TRANSFORMER_H

#include "tensor/tensor.h"

/* Activations used by transformer MLPs, by their Hugging Face `hidden_act` names. */
typedef enum {
    MLP_ACT_QUICK_GELU, /* "quick_gelu": x * sigmoid(1.702 x) */
    MLP_ACT_GELU,       /* "gelu": exact erf GELU */
    MLP_ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast": tanh approximation */
    MLP_ACT_RELU        /* "relu" */
} MlpAct;

/* Name -> kind; returns 0, or -1 for a name not listed above. */
int mlp_act_from_name(const char *name, MlpAct *out);
/* The canonical name ("quick_gelu", "gelu", "gelu_new", "relu"). */
const char *mlp_act_name(MlpAct a);
/* x [...] -> act(x) [...] */
Tensor *mlp_act_forward(Graph *g, Tensor *x, MlpAct a);

typedef struct {
    int dim;        /* D: model width */
    int heads;      /* D % heads == 0 */
    int ffn;        /* F: MLP hidden width */
    float eps;      /* layer norm epsilon */
    MlpAct act;
    int causal;     /* 1: position t attends to 0..t (CLIP's text tower) */
} EncoderBlockConfig;

typedef struct {
    Tensor *ln1_w, *ln1_b;
    Tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    Tensor *ln2_w, *ln2_b;
    Tensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} EncoderBlock;

/* What a tensor is, for initialisation and weight decay. */
typedef enum { SLOT_WEIGHT, SLOT_BIAS, SLOT_NORM_WEIGHT, SLOT_NORM_BIAS, SLOT_EMBEDDING, SLOT_SCALAR } SlotRole;

/* One tensor of a model: checkpoint name (suffix for a block), where the model keeps it, its shape. */
typedef struct {
    const char *name;
    Tensor **slot;
    int ndim;
    int shape[4];
    SlotRole role;
} TensorSlot;

#define ENCODER_BLOCK_TENSORS 16

/* Fills out[0..ENCODER_BLOCK_TENSORS) with the block's tensors: names relative to the block
 * prefix ("self_attn.q_proj.weight", ...), slots inside b, shapes from c. */
void encoder_block_slots(EncoderBlock *b, const EncoderBlockConfig *c, TensorSlot *out);

/* x [B, T, D] -> [B, T, D]. NULL on failure (message set). */
Tensor *encoder_block_forward(Graph *g, const EncoderBlock *b, const EncoderBlockConfig *c, Tensor *x);

/* Multiply-adds of one block on one sequence of T tokens (projections, MLP, attention). */
double encoder_block_macs(const EncoderBlockConfig *c, int T);

#endif
