/* The pre-LN transformer encoder block (see transformer.h): layer norm, multi-head attention with
 * separate q/k/v/out projections, residual; layer norm, two-layer MLP, residual. Every step is an
 * engine op, so the block runs forward with or without the tape and backward through it. */
#include "models/transformer.h"

#include "base/error.h"
#include "tensor/ops.h"

#include <string.h>

static const struct {
    const char *name;
    MlpAct kind;
} mlp_act_names[] = {
    {"quick_gelu", MLP_ACT_QUICK_GELU}, {"gelu", MLP_ACT_GELU},       {"gelu_new", MLP_ACT_GELU_TANH},
    {"gelu_pytorch_tanh", MLP_ACT_GELU_TANH}, {"gelu_fast", MLP_ACT_GELU_TANH}, {"relu", MLP_ACT_RELU},
};

int mlp_act_from_name(const char *name, MlpAct *out)
{
    for (size_t i = 0; name && i < sizeof mlp_act_names / sizeof mlp_act_names[0]; i++)
        if (strcmp(name, mlp_act_names[i].name) == 0) {
            *out = mlp_act_names[i].kind;
            return 0;
        }
    return -1;
}

const char *mlp_act_name(MlpAct a)
{
    switch (a) {
    case MLP_ACT_QUICK_GELU: return "quick_gelu";
    case MLP_ACT_GELU: return "gelu";
    case MLP_ACT_GELU_TANH: return "gelu_new";
    case MLP_ACT_RELU: return "relu";
    }
    return "?";
}

Tensor *mlp_act_forward(Graph *g, Tensor *x, MlpAct a)
{
    switch (a) {
    case MLP_ACT_QUICK_GELU: return op_quick_gelu(g, x);
    case MLP_ACT_GELU: return op_gelu(g, x);
    case MLP_ACT_GELU_TANH: return op_gelu_tanh(g, x);
    case MLP_ACT_RELU: return op_relu(g, x);
    }
    mvla_fail(MVLA_ERR_ARG, "activation: unknown kind %d", (int)a);
    return NULL;
}

void encoder_block_slots(EncoderBlock *b, const EncoderBlockConfig *c, TensorSlot *out)
{
    int D = c->dim, F = c->ffn;
    const TensorSlot slots[ENCODER_BLOCK_TENSORS] = {
        {"layer_norm1.weight", &b->ln1_w, 1, {D}, SLOT_NORM_WEIGHT},
        {"layer_norm1.bias", &b->ln1_b, 1, {D}, SLOT_NORM_BIAS},
        {"self_attn.q_proj.weight", &b->q_w, 2, {D, D}, SLOT_WEIGHT},
        {"self_attn.q_proj.bias", &b->q_b, 1, {D}, SLOT_BIAS},
        {"self_attn.k_proj.weight", &b->k_w, 2, {D, D}, SLOT_WEIGHT},
        {"self_attn.k_proj.bias", &b->k_b, 1, {D}, SLOT_BIAS},
        {"self_attn.v_proj.weight", &b->v_w, 2, {D, D}, SLOT_WEIGHT},
        {"self_attn.v_proj.bias", &b->v_b, 1, {D}, SLOT_BIAS},
        {"self_attn.out_proj.weight", &b->o_w, 2, {D, D}, SLOT_WEIGHT},
        {"self_attn.out_proj.bias", &b->o_b, 1, {D}, SLOT_BIAS},
        {"layer_norm2.weight", &b->ln2_w, 1, {D}, SLOT_NORM_WEIGHT},
        {"layer_norm2.bias", &b->ln2_b, 1, {D}, SLOT_NORM_BIAS},
        {"mlp.fc1.weight", &b->fc1_w, 2, {F, D}, SLOT_WEIGHT},
        {"mlp.fc1.bias", &b->fc1_b, 1, {F}, SLOT_BIAS},
        {"mlp.fc2.weight", &b->fc2_w, 2, {D, F}, SLOT_WEIGHT},
        {"mlp.fc2.bias", &b->fc2_b, 1, {D}, SLOT_BIAS},
    };
    memcpy(out, slots, sizeof slots);
}

Tensor *encoder_block_forward(Graph *g, const EncoderBlock *b, const EncoderBlockConfig *c, Tensor *x)
{
    if (!x) return NULL;
    char sx[64];
    if (x->ndim != 3 || x->shape[2] != c->dim) {
        mvla_fail(MVLA_ERR_ARG, "encoder block: input %s: expected [B, T, %d]", tensor_shape_str(x, sx, sizeof sx),
                  c->dim);
        return NULL;
    }
    /* attention sub-block: x + out_proj(attention(q, k, v)) on layer_norm1(x) */
    Tensor *h = op_layernorm(g, x, b->ln1_w, b->ln1_b, c->eps);
    Tensor *q = op_linear(g, h, b->q_w, b->q_b);
    Tensor *k = op_linear(g, h, b->k_w, b->k_b);
    Tensor *v = op_linear(g, h, b->v_w, b->v_b);
    Tensor *a = op_attention(g, q, k, v, c->heads, c->causal, NULL, 0.0f);
    x = op_add(g, x, op_linear(g, a, b->o_w, b->o_b));
    /* MLP sub-block: x + fc2(act(fc1(layer_norm2(x)))) */
    h = op_layernorm(g, x, b->ln2_w, b->ln2_b, c->eps);
    h = mlp_act_forward(g, op_linear(g, h, b->fc1_w, b->fc1_b), c->act);
    return op_add(g, x, op_linear(g, h, b->fc2_w, b->fc2_b));
}

double encoder_block_macs(const EncoderBlockConfig *c, int T)
{
    double D = c->dim, F = c->ffn;
    return T * (4 * D * D + 2 * D * F) + 2.0 * T * T * D;
}
