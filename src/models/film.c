/* FiLM and concatenation fusion (see film.h). */
#include "models/film.h"

#include "base/error.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_shape.h"

#include <stdio.h>

int film_init(Film *f, ParamList *p, const char *prefix, int cond_dim, int channels)
{
    char name[256];
    f->channels = channels, f->cond_dim = cond_dim;
    Rng unused;
    rng_seed(&unused, 0);
    int rc;
    snprintf(name, sizeof name, "%s.gamma", prefix);
    if ((rc = linear_init(&f->gamma, p, name, cond_dim, channels, 1, &unused))) return rc;
    snprintf(name, sizeof name, "%s.beta", prefix);
    if ((rc = linear_init(&f->beta, p, name, cond_dim, channels, 1, &unused))) return rc;
    /* Identity at the start: gamma = beta = 0. */
    tensor_fill(f->gamma.weight, 0), tensor_fill(f->gamma.bias, 0);
    tensor_fill(f->beta.weight, 0), tensor_fill(f->beta.bias, 0);
    return 0;
}

Tensor *film_apply(Graph *g, const Film *f, Tensor *x, Tensor *cond)
{
    if (!x || !cond) return NULL;
    char sx[64], sc[64];
    if (x->ndim < 2 || x->shape[1] != f->channels || cond->ndim != 2 || cond->shape[0] != x->shape[0] ||
        cond->shape[1] != f->cond_dim) {
        mvla_fail(MVLA_ERR_ARG, "film: input %s, condition %s: expected [N, %d, ...] and [N, %d]",
                  tensor_shape_str(x, sx, sizeof sx), tensor_shape_str(cond, sc, sizeof sc), f->channels,
                  f->cond_dim);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS] = {x->shape[0], f->channels, 1, 1, 1};
    Tensor *scale = op_add_scalar(g, linear_forward(g, &f->gamma, cond), 1.0f);
    Tensor *shift = linear_forward(g, &f->beta, cond);
    scale = op_reshape(g, scale, x->ndim, shape);
    shift = op_reshape(g, shift, x->ndim, shape);
    return op_add(g, op_mul(g, x, scale), shift);
}

Tensor *fusion_concat(Graph *g, Tensor *feat, Tensor *cond) { return op_concat(g, (Tensor *[]){feat, cond}, 2, 1); }
