/* The epoch bookkeeping both batch loaders share (batch.c: windows, seq_batch.c: episode segments):
 * a list of n items (samples or segments), put in a fresh order each epoch (shuffled with the RNG of
 * (seed, epoch), or kept), cut into batches of batch_size, and batch b filled into slot b % 2 by the
 * loader's fill function: on a background thread with prefetch (prefetch.h), else on the caller's. The
 * fill reads this epoch's order and epoch, which stay fixed while batches are being filled.
 *
 *   BatchEpochs e;
 *   batch_epochs_init(&e, items, n, sizeof item, &opts, fill, loader, "batches", "samples");
 *   batch_epochs_start(&e, epoch);  while (!batch_epochs_next(&e, &b) && b >= 0) use slot b % 2;
 *   batch_epochs_free(&e);
 */
#ifndef MVLA_BATCH_EPOCHS_H
#define MVLA_BATCH_EPOCHS_H

#include "data/prefetch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int batch_size;
    int drop_last; /* 1: no final partial batch */
    int shuffle;   /* 0: the items' own order every epoch */
    int prefetch;  /* 1: a background thread fills the next batch */
    uint64_t seed;
} BatchEpochOptions;

typedef struct {
    const void *items;
    void *order;    /* this epoch's items, in the order they are batched */
    size_t elem_size;
    long n, n_batches, next_batch;
    int epoch;
    BatchEpochOptions o;
    PrefetchFillFn fill;
    void *ctx;
    Prefetcher *pf;
    const char *who; /* the loader, in errors */
} BatchEpochs;

/* items (n >= 1 of elem_size bytes) must outlive e; fill(ctx, b, slot) fills batch b of the current
 * epoch. `who` (a string that outlives e) and `what` name the loader and its items in errors ("batches",
 * "samples"). Does not start
 * an epoch. On failure e holds nothing to free. */
int batch_epochs_init(BatchEpochs *e, const void *items, long n, size_t elem_size, const BatchEpochOptions *o,
                      PrefetchFillFn fill, void *ctx, const char *who, const char *what);
void batch_epochs_free(BatchEpochs *e);
/* Starts epoch `epoch` (>= 0): the new order; with prefetch the first batch starts at once. */
int batch_epochs_start(BatchEpochs *e, int epoch);
/* The next batch of the epoch, filled: its index in *b (its slot is *b % 2), or *b = -1 at the end. */
int batch_epochs_next(BatchEpochs *e, long *b);

#endif
