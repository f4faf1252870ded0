/* Learning-rate schedules: the rate for optimiser step `step` (0 for the first update, i.e. the
 * number of updates already taken, as with torch's LambdaLR stepped after each optimiser step).
 *
 * The formulas follow Hugging Face's get_{constant,cosine,linear}_schedule_with_warmup, with a
 * floor min_lr that the decay ends at:
 *   warmup   (step < warmup_steps):  base_lr * step / warmup_steps      (0 at the first step)
 *   then     progress = (step - warmup_steps) / max(1, total_steps - warmup_steps), clamped to [0, 1]
 *     constant: base_lr
 *     cosine:   min_lr + (base_lr - min_lr) * 0.5 * (1 + cos(pi * progress))
 *     linear:   min_lr + (base_lr - min_lr) * (1 - progress)
 * so from total_steps on the rate stays at min_lr (HF's cosine would rise again; HF's min is 0). */
#ifndef MVLA_SCHEDULE_H
#define MVLA_SCHEDULE_H

typedef enum { LR_CONSTANT, LR_WARMUP_COSINE, LR_WARMUP_LINEAR } LrScheduleKind;

typedef struct {
    LrScheduleKind kind;
    float base_lr;      /* peak rate, reached at the end of warmup */
    long warmup_steps;  /* 0: no warmup */
    long total_steps;   /* where the decay reaches min_lr (cosine, linear) */
    float min_lr;       /* floor of the decay (cosine, linear) */
} LrSchedule;

/* The rate for optimiser step `step` (a negative step counts as 0). */
float lr_at(const LrSchedule *s, long step);

/* Checks the settings: rates finite and >= 0, warmup_steps >= 0, and for cosine and linear
 * total_steps >= warmup_steps. Returns 0 or an error with a message. */
int lr_schedule_check(const LrSchedule *s);

/* "constant", "cosine", "linear" -> the kind; -1 for an unknown name. */
int lr_schedule_kind_from_name(const char *name);
const char *lr_schedule_kind_name(LrScheduleKind kind);

#endif
