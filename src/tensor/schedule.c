#include "tensor/schedule.h"

#include "base/error.h"

#include <math.h>
#include <string.h>

float lr_at(const LrSchedule *s, long step)
{
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return (float)((double)s->base_lr * (double)step / (double)s->warmup_steps);
    if (s->kind == LR_CONSTANT) return s->base_lr;
    long span = s->total_steps - s->warmup_steps;
    double progress = (double)(step - s->warmup_steps) / (double)(span > 1 ? span : 1);
    if (progress > 1) progress = 1;
    double shape = s->kind == LR_WARMUP_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
    return (float)(s->min_lr + ((double)s->base_lr - s->min_lr) * shape);
}

int lr_schedule_check(const LrSchedule *s)
{
    if (!s) return mvla_fail(MVLA_ERR_ARG, "lr schedule: none given");
    if (s->kind != LR_CONSTANT && s->kind != LR_WARMUP_COSINE && s->kind != LR_WARMUP_LINEAR)
        return mvla_fail(MVLA_ERR_ARG, "lr schedule: unknown kind %d", (int)s->kind);
    if (!(s->base_lr >= 0) || !isfinite(s->base_lr) || !(s->min_lr >= 0) || !isfinite(s->min_lr))
        return mvla_fail(MVLA_ERR_ARG, "lr schedule: base_lr %g, min_lr %g: expected finite values >= 0", s->base_lr,
                         s->min_lr);
    if (s->warmup_steps < 0) return mvla_fail(MVLA_ERR_ARG, "lr schedule: warmup_steps %ld: expected >= 0", s->warmup_steps);
    if (s->kind != LR_CONSTANT && s->total_steps < s->warmup_steps)
        return mvla_fail(MVLA_ERR_ARG, "lr schedule %s: total_steps %ld is below warmup_steps %ld",
                         lr_schedule_kind_name(s->kind), s->total_steps, s->warmup_steps);
    return MVLA_OK;
}

int lr_schedule_kind_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "constant") == 0) return LR_CONSTANT;
    if (strcmp(name, "cosine") == 0) return LR_WARMUP_COSINE;
    if (strcmp(name, "linear") == 0) return LR_WARMUP_LINEAR;
    return -1;
}

const char *lr_schedule_kind_name(LrScheduleKind kind)
{
    switch (kind) {
    case LR_CONSTANT: return "constant";
    case LR_WARMUP_COSINE: return "cosine";
    case LR_WARMUP_LINEAR: return "linear";
    }
    return "unknown";
}
