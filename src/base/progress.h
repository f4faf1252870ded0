/* Progress for long work: a bar with rate and ETA on a terminal, plain lines otherwise
 * (one every few seconds). Writes to stderr; used by the CLI and jobs, never by the library core. */
#ifndef MVLA_PROGRESS_H
#define MVLA_PROGRESS_H

typedef struct {
    const char *label;
    const char *unit;       /* "step", "frame", ... */
    long total;             /* 0 if unknown */
    long done;
    double start, last_print;
    int tty;
    char extra[96];         /* e.g. "loss 0.0123" */
} Progress;

void progress_start(Progress *p, const char *label, long total, const char *unit);
/* Sets the current count and optional extra text (may be NULL), printing if due. */
void progress_update(Progress *p, long done, const char *extra);
void progress_finish(Progress *p);

/* Monotonic seconds. */
double time_now(void);

#endif
