/* Perceiver resampler (see resampler.h): learned latents cross-attend to visual tokens, depth times. */
#include "models/resampler.h"

#include "base/error.h"
#include "nn/init.h"
#include "tensor/ops.h"

#include <stdio.h>
#include <string.h>

ResamplerConfig resampler_config_default(int dim)
{
    return (ResamplerConfig){.dim = dim, .media_dim = dim, .num_latents = 64, .depth = 6, .heads = 8,
                             .dim_head = 64, .ff_mult = 4, .kv_latents = 1, .eps = 1e-5f};
}

int resampler_config_check(const ResamplerConfig *c)
{
    const struct {
        const char *name;
        int value, lo, hi;
    } f[] = {
        {"dim", c->dim, 1, 1 << 16},           {"media_dim", c->media_dim, 0, 1 << 16},
        {"num_latents", c->num_latents, 1, 1 << 16}, {"depth", c->depth, 1, RESAMPLER_MAX_DEPTH},
        {"heads", c->heads, 1, 1024},          {"dim_head", c->dim_head, 1, 4096},
        {"ff_mult", c->ff_mult, 1, 64},        {"kv_latents", c->kv_latents, 0, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].value < f[i].lo || f[i].value > f[i].hi)
            return mvla_fail(MVLA_ERR_ARG, "resampler: %s %d: expected %d..%d", f[i].name, f[i].value, f[i].lo,
                             f[i].hi);
    if (!(c->eps > 0)) return mvla_fail(MVLA_ERR_ARG, "resampler: eps %g: expected > 0", (double)c->eps);
    return MVLA_OK;
}

/* params_new with a "<prefix>.<name>" name; NULL on failure. */
static Tensor *param(ParamList *p, const char *prefix, const char *name, int decay, int ndim, int d0, int d1)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name);
    return params_new(p, full, decay, ndim, (int[]){d0, d1});
}

static Tensor *linear_weight(ParamList *p, const char *prefix, const char *name, int out, int in, Rng *rng)
{
    Tensor *w = param(p, prefix, name, 1, 2, out, in);
    if (w) init_uniform_fan_in(w, in, rng);
    return w;
}

/* A layer norm pair (weight 1, bias 0); returns 0 or an error. */
static int norm_pair(ParamList *p, const char *prefix, const char *name, int dim, Tensor **w, Tensor **b)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s.weight", name);
    *w = param(p, prefix, nm, 0, 1, dim, 0);
    snprintf(nm, sizeof nm, "%s.bias", name);
    *b = param(p, prefix, nm, 0, 1, dim, 0);
    if (!*w || !*b) return MVLA_ERR_NOMEM;
    tensor_fill(*w, 1.0f);
    return MVLA_OK;
}

int resampler_init(Resampler *r, ParamList *p, const char *prefix, const ResamplerConfig *c, Rng *rng)
{
    memset(r, 0, sizeof *r);
    ResamplerConfig cfg = *c;
    if (cfg.media_dim == 0) cfg.media_dim = cfg.dim;
    int rc = resampler_config_check(&cfg);
    if (rc) return rc;
    r->cfg = cfg;
    if (!prefix) prefix = "";
    int D = cfg.dim, inner = cfg.heads * cfg.dim_head, F = cfg.ff_mult * cfg.dim;
    r->latents = param(p, prefix, "latents", 0, 2, cfg.num_latents, D);
    if (!r->latents) return MVLA_ERR_NOMEM;
    tensor_fill_normal(r->latents, rng, 1.0f);
    if (cfg.media_dim != D) {
        r->in_proj_w = linear_weight(p, prefix, "in_proj.weight", D, cfg.media_dim, rng);
        r->in_proj_b = param(p, prefix, "in_proj.bias", 0, 1, D, 0);
        if (!r->in_proj_w || !r->in_proj_b) return MVLA_ERR_NOMEM;
        init_uniform_fan_in(r->in_proj_b, cfg.media_dim, rng);
    }
    for (int l = 0; l < cfg.depth; l++) {
        ResamplerLayer *L = &r->layers[l];
        char lp[200];
        snprintf(lp, sizeof lp, "%s%slayers.%d", prefix, *prefix ? "." : "", l);
        if (norm_pair(p, lp, "attn.norm_media", D, &L->norm_media_w, &L->norm_media_b) ||
            norm_pair(p, lp, "attn.norm_latents", D, &L->norm_latents_w, &L->norm_latents_b))
            return MVLA_ERR_NOMEM;
        L->to_q = linear_weight(p, lp, "attn.to_q.weight", inner, D, rng);
        L->to_k = linear_weight(p, lp, "attn.to_k.weight", inner, D, rng);
        L->to_v = linear_weight(p, lp, "attn.to_v.weight", inner, D, rng);
        L->to_out = linear_weight(p, lp, "attn.to_out.weight", D, inner, rng);
        if (!L->to_q || !L->to_k || !L->to_v || !L->to_out) return MVLA_ERR_NOMEM;
        if (norm_pair(p, lp, "ff.norm", D, &L->ff_norm_w, &L->ff_norm_b)) return MVLA_ERR_NOMEM;
        L->ff1 = linear_weight(p, lp, "ff.fc1.weight", F, D, rng);
        L->ff2 = linear_weight(p, lp, "ff.fc2.weight", D, F, rng);
        if (!L->ff1 || !L->ff2) return MVLA_ERR_NOMEM;
    }
    return norm_pair(p, prefix, "norm", D, &r->norm_w, &r->norm_b);
}

Tensor *resampler_forward(Graph *g, const Resampler *r, Tensor *x)
{
    if (!x) return NULL;
    const ResamplerConfig *c = &r->cfg;
    char sx[64];
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] != c->media_dim) {
        mvla_fail(MVLA_ERR_ARG, "resampler: input %s: expected [B, T, %d] with B, T >= 1",
                  tensor_shape_str(x, sx, sizeof sx), c->media_dim);
        return NULL;
    }
    int B = x->shape[0];
    if (r->in_proj_w) x = op_linear(g, x, r->in_proj_w, r->in_proj_b);
    Tensor *lat = op_expand_leading(g, r->latents, B);                       /* [B, N, D] */
    for (int l = 0; l < c->depth; l++) {
        const ResamplerLayer *L = &r->layers[l];
        Tensor *xn = op_layernorm(g, x, L->norm_media_w, L->norm_media_b, c->eps);
        Tensor *ln = op_layernorm(g, lat, L->norm_latents_w, L->norm_latents_b, c->eps);
        Tensor *kv = c->kv_latents ? op_concat(g, (Tensor *[]){xn, ln}, 2, 1) : xn; /* [B, Tv (+N), D] */
        Tensor *q = op_linear(g, ln, L->to_q, NULL);
        Tensor *k = op_linear(g, kv, L->to_k, NULL);
        Tensor *v = op_linear(g, kv, L->to_v, NULL);
        Tensor *a = op_attention(g, q, k, v, c->heads, 0, NULL, 0.0f);         /* [B, N, inner] */
        lat = op_add(g, lat, op_linear(g, a, L->to_out, NULL));
        Tensor *h = op_layernorm(g, lat, L->ff_norm_w, L->ff_norm_b, c->eps);
        h = op_linear(g, op_gelu(g, op_linear(g, h, L->ff1, NULL)), L->ff2, NULL);
        lat = op_add(g, lat, h);
    }
    return op_layernorm(g, lat, r->norm_w, r->norm_b, c->eps);
}
