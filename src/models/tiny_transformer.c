/* Small pre-norm transformer encoder (see tiny_transformer.h). */
#include "models/tiny_transformer.h"

#include "base/error.h"
#include "tensor/ops_activation.h"
#include "tensor/ops_attention.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_norm.h"
#include "tensor/ops_softmax.h"

#include <stdio.h>
#include <string.h>

static int layernorm_init(Tensor **w, Tensor **b, ParamList *p, const char *prefix, int dim)
{
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    *w = params_new(p, name, 0, 1, &dim);
    snprintf(name, sizeof name, "%s.bias", prefix);
    *b = params_new(p, name, 0, 1, &dim);
    if (!*w || !*b) return mvla_fail(MVLA_ERR_NOMEM, "transformer: cannot create %s: %s", name, mvla_error_message());
    tensor_fill(*w, 1.0f);
    return 0;
}

int tiny_transformer_init(TinyTransformer *t, ParamList *p, const char *prefix, int dim, int heads, int ff, int layers,
                          Rng *rng)
{
    memset(t, 0, sizeof *t);
    if (dim < 1 || heads < 1 || dim % heads || ff < 1 || layers < 1 || layers > TINY_TRANSFORMER_MAX_LAYERS)
        return mvla_fail(MVLA_ERR_ARG, "transformer %s: dim %d, heads %d, ff %d, layers %d: expected heads dividing "
                         "dim and 1..%d layers", prefix, dim, heads, ff, layers, TINY_TRANSFORMER_MAX_LAYERS);
    t->dim = dim, t->heads = heads, t->ff = ff, t->layers = layers;
    char name[256];
    int rc;
    for (int l = 0; l < layers; l++) {
        TinyTransformerLayer *L = &t->layer[l];
        struct { Linear *lin; const char *what; int in, out; } lins[] = {
            {&L->q, "attn.q", dim, dim},   {&L->k, "attn.k", dim, dim},     {&L->v, "attn.v", dim, dim},
            {&L->out, "attn.out", dim, dim}, {&L->fc1, "mlp.fc1", dim, ff}, {&L->fc2, "mlp.fc2", ff, dim},
        };
        snprintf(name, sizeof name, "%s.layers.%d.ln1", prefix, l);
        if ((rc = layernorm_init(&L->ln1_w, &L->ln1_b, p, name, dim))) return rc;
        for (int i = 0; i < 6; i++) {
            if (i == 4) {
                snprintf(name, sizeof name, "%s.layers.%d.ln2", prefix, l);
                if ((rc = layernorm_init(&L->ln2_w, &L->ln2_b, p, name, dim))) return rc;
            }
            snprintf(name, sizeof name, "%s.layers.%d.%s", prefix, l, lins[i].what);
            if ((rc = linear_init(lins[i].lin, p, name, lins[i].in, lins[i].out, 1, rng))) return rc;
        }
    }
    snprintf(name, sizeof name, "%s.ln_f", prefix);
    return layernorm_init(&t->lnf_w, &t->lnf_b, p, name, dim);
}

Tensor *tiny_transformer_forward(Graph *g, const TinyTransformer *t, Tensor *x, int causal,
                                 const unsigned char *key_padding, float dropout, int training, Rng *rng)
{
    for (int l = 0; l < t->layers && x; l++) {
        const TinyTransformerLayer *L = &t->layer[l];
        Tensor *h = op_layernorm(g, x, L->ln1_w, L->ln1_b, 1e-5f);
        Tensor *a = op_attention(g, linear_forward(g, &L->q, h), linear_forward(g, &L->k, h),
                                 linear_forward(g, &L->v, h), t->heads, causal, key_padding, 0);
        x = op_add(g, x, op_dropout(g, linear_forward(g, &L->out, a), dropout, training, rng));
        h = op_layernorm(g, x, L->ln2_w, L->ln2_b, 1e-5f);
        h = linear_forward(g, &L->fc2, op_gelu(g, linear_forward(g, &L->fc1, h)));
        x = op_add(g, x, op_dropout(g, h, dropout, training, rng));
    }
    return op_layernorm(g, x, t->lnf_w, t->lnf_b, 1e-5f);
}
