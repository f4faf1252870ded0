#include "tensor/optim.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *prefix;
    float lr_scale, weight_decay;
} OptimGroup;

struct Optimizer {
    OptimKind kind;
    OptimConfig cfg;
    const ParamList *params;
    int n;              /* parameter count at optim_new */
    long *numel;        /* [n] each parameter's size at optim_new */
    float *lr_scale;    /* [n] after groups */
    float *wd;          /* [n] after groups */
    int slots;          /* state buffers per parameter */
    float **state;      /* [n * slots] pointers into block */
    float *block;       /* all state, zero-initialised */
    long t;
    OptimGroup *groups;
    int n_groups;
};

OptimConfig optim_config_default(OptimKind kind)
{
    if (kind == OPTIM_SGD) return (OptimConfig){.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    return (OptimConfig){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
}

const char *optim_kind_name(OptimKind kind) { return kind == OPTIM_SGD ? "sgd" : "adamw"; }

int optim_kind_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "adamw") == 0) return OPTIM_ADAMW;
    if (strcmp(name, "sgd") == 0) return OPTIM_SGD;
    return -1;
}

static int check_config(OptimKind kind, const OptimConfig *c)
{
    if (!(c->lr >= 0) || !isfinite(c->lr)) return mvla_fail(MVLA_ERR_ARG, "optim: lr %g: expected a finite value >= 0", c->lr);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return mvla_fail(MVLA_ERR_ARG, "optim: weight_decay %g: expected a finite value >= 0", c->weight_decay);
    if (!(c->ema >= 0 && c->ema < 1)) return mvla_fail(MVLA_ERR_ARG, "optim: ema %g: expected a decay in [0, 1)", c->ema);
    if (kind == OPTIM_ADAMW) {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return mvla_fail(MVLA_ERR_ARG, "optim: adamw betas (%g, %g): expected each in [0, 1)", c->beta1, c->beta2);
        if (!(c->eps > 0) || !isfinite(c->eps)) return mvla_fail(MVLA_ERR_ARG, "optim: adamw eps %g: expected > 0", c->eps);
    } else {
        if (!(c->momentum >= 0) || !isfinite(c->momentum))
            return mvla_fail(MVLA_ERR_ARG, "optim: sgd momentum %g: expected a finite value >= 0", c->momentum);
        if (c->nesterov && c->momentum == 0)
            return mvla_fail(MVLA_ERR_ARG, "optim: sgd nesterov needs momentum > 0");
    }
    return MVLA_OK;
}

Optimizer *optim_new(OptimKind kind, const ParamList *params, const OptimConfig *cfg)
{
    if (!params) {
        mvla_fail(MVLA_ERR_ARG, "optim_new: no parameter list");
        return NULL;
    }
    if (kind != OPTIM_ADAMW && kind != OPTIM_SGD) {
        mvla_fail(MVLA_ERR_ARG, "optim_new: unknown optimiser kind %d", (int)kind);
        return NULL;
    }
    OptimConfig c = cfg ? *cfg : optim_config_default(kind);
    if (check_config(kind, &c)) return NULL;

    Optimizer *o = calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->kind = kind;
    o->cfg = c;
    o->params = params;
    o->n = params->count;
    o->slots = (kind == OPTIM_ADAMW ? 2 : c.momentum > 0 ? 1 : 0) + (c.ema > 0);
    size_t n = (size_t)(o->n > 0 ? o->n : 1);
    o->numel = malloc(n * sizeof *o->numel);
    o->lr_scale = malloc(n * sizeof *o->lr_scale);
    o->wd = malloc(n * sizeof *o->wd);
    o->state = calloc(n * (size_t)(o->slots ? o->slots : 1), sizeof *o->state);
    if (!o->numel || !o->lr_scale || !o->wd || !o->state) goto nomem;

    long total = 0;
    for (int i = 0; i < o->n; i++) {
        const Param *p = &params->items[i];
        if (!p->tensor) {
            mvla_fail(MVLA_ERR_ARG, "optim_new: parameter %s has no tensor", p->name);
            optim_free(o);
            return NULL;
        }
        o->numel[i] = p->tensor->numel;
        o->lr_scale[i] = 1.0f;
        o->wd[i] = p->decay ? c.weight_decay : 0.0f;
        total += p->tensor->numel;
    }
    if (o->slots && total > 0) {
        o->block = calloc((size_t)total * (size_t)o->slots, sizeof *o->block);
        if (!o->block) goto nomem;
        float *at = o->block;
        for (int i = 0; i < o->n; i++)
            for (int s = 0; s < o->slots; s++, at += o->numel[i]) o->state[i * o->slots + s] = at;
    }
    return o;

nomem:
    optim_free(o);
    mvla_fail(MVLA_ERR_NOMEM, "optim_new: out of memory for %d parameters", params->count);
    return NULL;
}

void optim_free(Optimizer *o)
{
    if (!o) return;
    for (int i = 0; i < o->n_groups; i++) free(o->groups[i].prefix);
    free(o->groups);
    free(o->numel);
    free(o->lr_scale);
    free(o->wd);
    free(o->state);
    free(o->block);
    free(o);
}

int optim_add_group(Optimizer *o, const char *prefix, float lr_scale, float weight_decay)
{
    if (!o || !prefix) return mvla_fail(MVLA_ERR_ARG, "optim_add_group: no optimiser or prefix");
    if (!(lr_scale >= 0) || !isfinite(lr_scale) || !(weight_decay >= 0) || !isfinite(weight_decay))
        return mvla_fail(MVLA_ERR_ARG, "optim_add_group %s: lr_scale %g, weight_decay %g: expected finite values >= 0",
                         prefix, lr_scale, weight_decay);
    size_t len = strlen(prefix);
    int matched = 0;
    for (int i = 0; i < o->n && i < o->params->count; i++)
        if (strncmp(o->params->items[i].name, prefix, len) == 0) matched++;
    if (!matched) return mvla_fail(MVLA_ERR_ARG, "optim_add_group: no parameter name starts with \"%s\"", prefix);

    OptimGroup *bigger = realloc(o->groups, (size_t)(o->n_groups + 1) * sizeof *bigger);
    if (!bigger) return mvla_fail(MVLA_ERR_NOMEM, "optim_add_group: out of memory");
    o->groups = bigger;
    char *copy = strdup(prefix);
    if (!copy) return mvla_fail(MVLA_ERR_NOMEM, "optim_add_group: out of memory");
    o->groups[o->n_groups++] = (OptimGroup){copy, lr_scale, weight_decay};
    for (int i = 0; i < o->n && i < o->params->count; i++)
        if (strncmp(o->params->items[i].name, prefix, len) == 0) {
            o->lr_scale[i] = lr_scale;
            o->wd[i] = weight_decay;
        }
    return MVLA_OK;
}

/* ---- updates (elementwise over n floats) ---- */

static void adamw_update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
                         float decay_mul, float b1, float b2, float step_size, float bc2_sqrt, float eps)
{
    const float w1 = 1.0f - b1, w2 = 1.0f - b2;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
    for (long i = 0; i < n; i++) {
        float gi = g[i];
        float mi = m[i] + w1 * (gi - m[i]); /* torch: exp_avg.lerp_(grad, 1 - beta1) */
        float vi = v[i] * b2 + w2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay_mul - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

static void sgd_update(float *restrict p, const float *restrict g, float *restrict buf, long n, float lr, float wd,
                       float momentum, int nesterov)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
    for (long i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        if (buf) {
            /* A zeroed buffer makes the first step buf = d, as in torch. */
            float b = buf[i] * momentum + d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] += -lr * d;
    }
}

/* Parameter i's moving average: the last state slot (only with cfg.ema). */
static float *ema_slot(const Optimizer *o, int i) { return o->state[i * o->slots + o->slots - 1]; }

static void ema_update(float *restrict e, const float *restrict p, long n, float w)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
    for (long i = 0; i < n; i++) e[i] += w * (p[i] - e[i]);
}

int optim_step(Optimizer *o, float lr)
{
    if (!o) return mvla_fail(MVLA_ERR_ARG, "optim_step: no optimiser");
    if (!(lr >= 0) || !isfinite(lr)) return mvla_fail(MVLA_ERR_ARG, "optim_step: lr %g: expected a finite value >= 0", lr);
    const ParamList *pl = o->params;
    if (pl->count != o->n)
        return mvla_fail(MVLA_ERR_ARG, "optim_step: the parameter list has %d parameters, the optimiser was built for %d",
                         pl->count, o->n);
    for (int i = 0; i < o->n; i++)
        if (!pl->items[i].tensor || pl->items[i].tensor->numel != o->numel[i])
            return mvla_fail(MVLA_ERR_ARG, "optim_step: parameter %s changed size since optim_new (%ld elements then)",
                             pl->items[i].name, o->numel[i]);

    long t = o->t + 1;
    const OptimConfig *c = &o->cfg;
    for (int i = 0; i < o->n; i++) {
        Tensor *p = pl->items[i].tensor;
        if (!p->grad || p->numel == 0) continue;
        /* Scalars in double like PyTorch's Python floats, then rounded once. */
        double plr = (double)lr * o->lr_scale[i], wd = o->wd[i];
        if (o->kind == OPTIM_ADAMW) {
            double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
            adamw_update(p->data, p->grad, o->state[i * o->slots], o->state[i * o->slots + 1], p->numel,
                         (float)(1.0 - plr * wd), c->beta1, c->beta2, (float)(plr / bc1), (float)sqrt(bc2), c->eps);
        } else {
            sgd_update(p->data, p->grad, c->momentum > 0 ? o->state[i * o->slots] : NULL, p->numel, (float)plr, (float)wd,
                       c->momentum, c->nesterov);
        }
    }
    for (int i = 0; c->ema > 0 && i < o->n; i++) {
        const Tensor *p = pl->items[i].tensor;
        float *e = ema_slot(o, i);
        if (!pl->items[i].trainable || p->numel == 0) continue;
        if (t == 1) memcpy(e, p->data, sizeof(float) * (size_t)p->numel);
        else ema_update(e, p->data, p->numel, 1.0f - c->ema);
    }
    o->t = t;
    return MVLA_OK;
}

int optim_swap_ema(Optimizer *o)
{
    if (!o || !(o->cfg.ema > 0)) return mvla_fail(MVLA_ERR_ARG, "optim_swap_ema: the optimiser keeps no moving average");
    const ParamList *pl = o->params;
    for (int i = 0; i < o->n && i < pl->count; i++) {
        Tensor *p = pl->items[i].tensor;
        float *e = ema_slot(o, i);
        if (!pl->items[i].trainable) continue;
        for (long j = 0; j < p->numel; j++) {
            float v = p->data[j];
            p->data[j] = e[j];
            e[j] = v;
        }
    }
    return MVLA_OK;
}

void optim_zero_grad(Optimizer *o)
{
    if (!o) return;
    for (int i = 0; i < o->params->count; i++) tensor_zero_grad(o->params->items[i].tensor);
}

/* ---- inspection ---- */

OptimKind optim_kind(const Optimizer *o) { return o->kind; }
const OptimConfig *optim_config(const Optimizer *o) { return &o->cfg; }
const ParamList *optim_params(const Optimizer *o) { return o->params; }
long optim_t(const Optimizer *o) { return o->t; }
void optim_set_t(Optimizer *o, long t) { o->t = t < 0 ? 0 : t; }

float optim_param_lr_scale(const Optimizer *o, int i) { return i >= 0 && i < o->n ? o->lr_scale[i] : 0.0f; }
float optim_param_weight_decay(const Optimizer *o, int i) { return i >= 0 && i < o->n ? o->wd[i] : 0.0f; }

int optim_group_count(const Optimizer *o) { return o->n_groups; }
const char *optim_group_prefix(const Optimizer *o, int i) { return i >= 0 && i < o->n_groups ? o->groups[i].prefix : NULL; }
float optim_group_lr_scale(const Optimizer *o, int i) { return i >= 0 && i < o->n_groups ? o->groups[i].lr_scale : 0.0f; }
float optim_group_weight_decay(const Optimizer *o, int i)
{
    return i >= 0 && i < o->n_groups ? o->groups[i].weight_decay : 0.0f;
}

int optim_state_slots(const Optimizer *o) { return o->slots; }

const char *optim_state_slot_name(const Optimizer *o, int slot)
{
    if (slot < 0 || slot >= o->slots) return NULL;
    if (o->cfg.ema > 0 && slot == o->slots - 1) return "ema";
    if (o->kind == OPTIM_SGD) return "momentum";
    return slot == 0 ? "m" : "v";
}

float *optim_state(const Optimizer *o, int i, int slot)
{
    if (i < 0 || i >= o->n || slot < 0 || slot >= o->slots) return NULL;
    return o->state[i * o->slots + slot];
}

/* ---- gradient norms ---- */

static double sum_squares(const float *g, long n)
{
    double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) if (n >= PAR_MIN_WORK)
    for (long i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

double grad_norm(const ParamList *pl)
{
    double s = 0;
    for (int i = 0; pl && i < pl->count; i++) {
        const Tensor *t = pl->items[i].tensor;
        if (t && t->grad) s += sum_squares(t->grad, t->numel);
    }
    return sqrt(s);
}

float clip_grad_norm(const ParamList *pl, float max_norm)
{
    double norm = grad_norm(pl);
    if (!(max_norm > 0) || !isfinite(norm)) return (float)norm;
    /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1 (float32 tensors). */
    float coef = (float)max_norm / ((float)norm + 1e-6f);
    if (coef >= 1.0f) return (float)norm;
    for (int i = 0; i < pl->count; i++) {
        Tensor *t = pl->items[i].tensor;
        if (!t || !t->grad) continue;
        float *g = t->grad;
        long n = t->numel;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_WORK)
        for (long j = 0; j < n; j++) g[j] *= coef;
    }
    return (float)norm;
}
