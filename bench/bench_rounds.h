/* Step-mode timing shared by the benchmarks (header only: each bench .c file is its own program).
 * After BENCH_WARMUP steps, steps run in rounds of BENCH_ROUND until the time budget is spent (at most
 * BENCH_MAX_ROUNDS rounds). On a shared machine the best round is the number to read (the machine's
 * speed when nothing else competes for it); the median shows the contention. */
#ifndef MVLA_BENCH_ROUNDS_H
#define MVLA_BENCH_ROUNDS_H

#include "base/progress.h"
#include "models/policy.h"

#include <string.h>

enum { BENCH_WARMUP = 20, BENCH_ROUND = 25, BENCH_MAX_ROUNDS = 400 };

typedef struct {
    double best, median;  /* seconds per step: the fastest round's, the median round's */
    double encoder, head; /* seconds per step in the encoder and in the head, in the fastest round */
    int rounds;
} BenchRounds;

/* One step of r; i counts from 0 for the warm-up steps, and again from 0 for the timed ones. */
typedef int (*BenchStepFn)(StudentRunner *r, long i, void *ctx);

/* Times step on r (warm-up errors are not checked; a timed step's error ends it: its code). */
static int bench_runner_rounds(StudentRunner *r, BenchStepFn step, void *ctx, double budget, BenchRounds *out)
{
    for (int i = 0; i < BENCH_WARMUP; i++) step(r, i, ctx);
    double rounds[BENCH_MAX_ROUNDS], enc[BENCH_MAX_ROUNDS], head[BENCH_MAX_ROUNDS], start = time_now();
    int n = 0;
    long i = 0;
    do {
        double e0, h0, e1, h1, t0 = time_now();
        student_runner_timing(r, &e0, &h0, NULL);
        for (int k = 0; k < BENCH_ROUND; k++, i++) {
            int rc = step(r, i, ctx);
            if (rc) return rc;
        }
        student_runner_timing(r, &e1, &h1, NULL);
        rounds[n] = (time_now() - t0) / BENCH_ROUND, enc[n] = (e1 - e0) / BENCH_ROUND, head[n] = (h1 - h0) / BENCH_ROUND;
        n++;
    } while (n < BENCH_MAX_ROUNDS && time_now() - start < budget);
    int best = 0;
    for (int k = 1; k < n; k++)
        if (rounds[k] < rounds[best]) best = k;
    double sorted[BENCH_MAX_ROUNDS];
    memcpy(sorted, rounds, (size_t)n * sizeof *sorted);
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && sorted[b - 1] > sorted[b]; b--) {
            double t = sorted[b];
            sorted[b] = sorted[b - 1], sorted[b - 1] = t;
        }
    *out = (BenchRounds){rounds[best], sorted[n / 2], enc[best], head[best], n};
    return 0;
}

#endif
