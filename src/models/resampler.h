/* Perceiver resampler (Flamingo / RoboVLMs style): a fixed number of learned latent vectors read a
 * variable number of visual tokens through cross-attention, giving N output tokens per input.
 *
 *   x [B, Tv, media_dim] --(in_proj, only when media_dim != dim)--> [B, Tv, dim]
 *   lat = latents [N, dim] repeated over B
 *   for each of `depth` layers:
 *     xn = norm_media(x);  ln = norm_latents(lat)
 *     q = ln Wq^T;  kv_in = [xn ; ln] (kv_latents = 1, Flamingo) or xn (kv_latents = 0)
 *     k = kv_in Wk^T;  v = kv_in Wv^T                     (no biases, inner = heads * dim_head)
 *     lat = lat + out(attention(q, k, v, heads))           (scale dim_head^-1/2)
 *     lat = lat + ff2(gelu(ff1(ff_norm(lat))))             (no biases, hidden = ff_mult * dim)
 *   out = norm(lat) [B, N, dim]
 * Flamingo's to_kv [2 inner, dim] is stored here as to_k (its first `inner` rows) and to_v (the rest).
 *
 * Parameter names ("<prefix>." + ...): latents [N, dim]; in_proj.weight [dim, media_dim], in_proj.bias [dim]
 * (when present); layers.L.attn.{norm_media, norm_latents}.{weight, bias} [dim];
 * layers.L.attn.{to_q, to_k, to_v}.weight [inner, dim]; layers.L.attn.to_out.weight [dim, inner];
 * layers.L.ff.norm.{weight, bias} [dim]; layers.L.ff.fc1.weight [ff_mult dim, dim];
 * layers.L.ff.fc2.weight [dim, ff_mult dim]; norm.{weight, bias} [dim]. */
#ifndef MVLA_MODELS_RESAMPLER_H
#define MVLA_MODELS_RESAMPLER_H

#include "nn/params.h"

#define RESAMPLER_MAX_DEPTH 32

typedef struct {
    int dim;          /* latent (and output) width */
    int media_dim;    /* visual token width; 0 = dim */
    int num_latents;  /* N, RoboVLMs: 64 */
    int depth;        /* layers, RoboVLMs: 6 */
    int heads;        /* RoboVLMs: 8 */
    int dim_head;     /* RoboVLMs: 64 */
    int ff_mult;      /* MLP hidden = ff_mult * dim, 4 */
    int kv_latents;   /* 1: keys/values over [visual tokens ; latents] (Flamingo); 0: visual tokens only */
    float eps;        /* layer norm epsilon, 1e-5 */
} ResamplerConfig;

typedef struct {
    Tensor *norm_media_w, *norm_media_b, *norm_latents_w, *norm_latents_b;
    Tensor *to_q, *to_k, *to_v, *to_out;
    Tensor *ff_norm_w, *ff_norm_b, *ff1, *ff2;
} ResamplerLayer;

typedef struct {
    ResamplerConfig cfg;
    Tensor *latents;
    Tensor *in_proj_w, *in_proj_b;   /* NULL when media_dim == dim */
    ResamplerLayer layers[RESAMPLER_MAX_DEPTH];
    Tensor *norm_w, *norm_b;
} Resampler;

/* RoboVLMs' defaults for a given width: 64 latents, depth 6, 8 heads of 64, ff_mult 4, Flamingo keys. */
ResamplerConfig resampler_config_default(int dim);
/* Checks the sizes; the error names the field and the range expected. */
int resampler_config_check(const ResamplerConfig *c);

/* Creates the parameters in p (owned by p) under "<prefix>." names: latents N(0, 1), linear weights like
 * PyTorch's nn.Linear, layer norms 1 and 0. */
int resampler_init(Resampler *r, ParamList *p, const char *prefix, const ResamplerConfig *c, Rng *rng);

/* x [B, Tv, media_dim] -> [B, num_latents, dim]. NULL on failure (message set). */
Tensor *resampler_forward(Graph *g, const Resampler *r, Tensor *x);

#endif
