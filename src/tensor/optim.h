/* Optimisers (AdamW, SGD with momentum) over a ParamList, and gradient-norm clipping.
 *
 * An Optimizer updates every parameter of the ParamList it was built on, in place, from the
 * parameter's persistent grad buffer (tensor->grad, same shape as the parameter). Shapes do not
 * matter to the update: it is elementwise over each tensor's numel floats.
 *
 * Per-parameter settings: by default a parameter with decay = 1 gets cfg->weight_decay and one
 * with decay = 0 gets none, both at the full learning rate. optim_add_group overrides that for
 * every parameter whose name starts with a prefix (later groups win over earlier ones).
 *
 * The learning rate is passed to every optim_step (from the schedule, see schedule.h); each
 * parameter's effective rate is lr * its group's lr_scale. The optimiser counts its steps (t)
 * for Adam's bias correction. State (Adam's m and v, SGD's momentum buffers) is allocated once
 * by optim_new; optim_step allocates nothing.
 *
 * Matches PyTorch:
 *   AdamW (torch.optim.AdamW, amsgrad = False):
 *     p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *     p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   SGD (torch.optim.SGD, dampening = 0):
 *     d = g + wd*p;  buf = momentum*buf + d (buf = d at the first step);
 *     d = nesterov ? d + momentum*buf : buf (momentum > 0);  p -= lr*d
 * One difference: t is one count for the whole optimiser. A parameter whose grad is NULL is
 * skipped (its state is untouched) but t still advances; PyTorch counts steps per parameter. */
#ifndef MVLA_OPTIM_H
#define MVLA_OPTIM_H

#include "nn/params.h"

typedef enum { OPTIM_ADAMW, OPTIM_SGD } OptimKind;

typedef struct {
    float lr;           /* the nominal rate, recorded in checkpoints; optim_step takes the rate to use */
    float beta1, beta2; /* AdamW */
    float eps;          /* AdamW */
    float weight_decay; /* for decay = 1 parameters (AdamW: decoupled; SGD: L2 added to the gradient) */
    float momentum;     /* SGD; 0: plain SGD, no buffers */
    int nesterov;       /* SGD; needs momentum > 0 */
    float ema;          /* decay of an exponential moving average of the trainable parameters, kept as
                         * one more state slot ("ema", saved with the rest); 0: off */
} OptimConfig;

typedef struct Optimizer Optimizer;

/* PyTorch's defaults: AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01;
 * SGD lr 1e-2, momentum 0, weight_decay 0, nesterov off. */
OptimConfig optim_config_default(OptimKind kind);

/* Builds an optimiser over params (which must outlive it and keep its parameters while it is
 * used). cfg == NULL: the defaults. NULL on a bad setting (negative lr, betas outside [0, 1),
 * eps <= 0, nesterov without momentum, ...) or out of memory. */
Optimizer *optim_new(OptimKind kind, const ParamList *params, const OptimConfig *cfg);
void optim_free(Optimizer *opt);

/* Parameters whose name starts with name_prefix get lr * lr_scale and weight_decay (in place of
 * the decay-flag default). Fails if no parameter matches or a value is negative. */
int optim_add_group(Optimizer *opt, const char *name_prefix, float lr_scale, float weight_decay);

/* One update with learning rate lr (>= 0); then t = t + 1. Fails (updating nothing) if a
 * parameter was added to, or changed size in, the ParamList since optim_new. */
int optim_step(Optimizer *opt, float lr);
/* With cfg.ema: exchanges the trainable parameters' values with their moving average (the average
 * starts as the parameters after the first step). Call it again to swap back. Buffers stay. */
int optim_swap_ema(Optimizer *opt);
/* Zeroes the grad of every parameter. */
void optim_zero_grad(Optimizer *opt);

/* ---- inspection (checkpoints, logs) ---- */
OptimKind optim_kind(const Optimizer *opt);
const OptimConfig *optim_config(const Optimizer *opt);
const ParamList *optim_params(const Optimizer *opt);
long optim_t(const Optimizer *opt);              /* steps taken */
void optim_set_t(Optimizer *opt, long t);        /* for checkpoint_load */
/* Per-parameter settings after groups: effective lr = lr * lr_scale. */
float optim_param_lr_scale(const Optimizer *opt, int param_index);
float optim_param_weight_decay(const Optimizer *opt, int param_index);
/* Groups added with optim_add_group, in order. */
int optim_group_count(const Optimizer *opt);
const char *optim_group_prefix(const Optimizer *opt, int i);
float optim_group_lr_scale(const Optimizer *opt, int i);
float optim_group_weight_decay(const Optimizer *opt, int i);

/* State buffers: `slots` per parameter (AdamW: "m", "v"; SGD with momentum: "momentum";
 * plain SGD: none), each numel floats of parameter param_index. */
int optim_state_slots(const Optimizer *opt);
const char *optim_state_slot_name(const Optimizer *opt, int slot);
float *optim_state(const Optimizer *opt, int param_index, int slot);

/* "adamw" / "sgd", and back (-1 for an unknown name). */
const char *optim_kind_name(OptimKind kind);
int optim_kind_from_name(const char *name);

/* ---- gradient norms ---- */
/* L2 norm over the grads of every parameter (NULL grads count as zero), summed in double. */
double grad_norm(const ParamList *params);
/* Like torch.nn.utils.clip_grad_norm_: returns the total norm before clipping, and if
 * max_norm > 0 scales every grad by max_norm / (norm + 1e-6) when that is below 1.
 * max_norm <= 0 only measures. A non-finite norm is returned as is and leaves the grads
 * untouched (the caller should skip that step). */
float clip_grad_norm(const ParamList *params, float max_norm);

#endif
