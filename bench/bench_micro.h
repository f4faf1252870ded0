/* What the kernel micro-benchmarks (bench_ops, bench_depthwise) share: the --threads/--quick arguments
 * and timing a call (header only: each bench .c file is its own program). */
#ifndef MVLA_BENCH_MICRO_H
#define MVLA_BENCH_MICRO_H

#include "base/progress.h"
#include "base/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quick; /* --quick: shorter timings */

/* Runs fn until `seconds` (0.1 s with --quick) have passed, after one warm-up; returns seconds per call. */
static double time_call_for(void (*fn)(void *), void *ctx, double seconds)
{
    fn(ctx);
    double budget = quick ? 0.1 : seconds, start = time_now(), now;
    long calls = 0;
    do {
        fn(ctx);
        calls++;
        now = time_now();
    } while (now - start < budget);
    return (now - start) / calls;
}

/* [--threads N] [--quick]: sets quick and the thread count (the one in use is returned in *threads);
 * 0, or 2 after printing the usage. */
static int bench_micro_args(int argc, char **argv, int *threads)
{
    *threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) *threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    *threads = mvla_set_threads(*threads);
    return 0;
}

#endif
