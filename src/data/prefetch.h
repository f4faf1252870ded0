/* Double-buffered background filling for the batch loaders (batch.c, seq_batch.c).
 *
 * The loader numbers its batches 0, 1, ... within an epoch and fills batch i into slot i % 2 with its
 * fill function. A background thread (pthreads) fills batch i+1 while the caller uses batch i, so the
 * fill function must depend only on the loader's state fixed at the start of the epoch and on i (then
 * the results are identical to filling synchronously). */
#ifndef MVLA_PREFETCH_H
#define MVLA_PREFETCH_H

/* Fills batch `item` into slot `slot` (0 or 1); returns 0 or an error code set with mvla_fail. */
typedef int (*PrefetchFillFn)(void *ctx, long item, int slot);

typedef struct Prefetcher Prefetcher;

/* Starts the thread; it waits for prefetch_start. */
int prefetch_new(Prefetcher **out, PrefetchFillFn fill, void *ctx);
/* Stops and joins the thread. NULL is fine. */
void prefetch_free(Prefetcher *p);
/* Waits until the thread is idle (call before changing what fill reads, e.g. the epoch's order). */
void prefetch_wait_idle(Prefetcher *p);
/* A new epoch of n_items batches: the thread starts on batch 0 at once. Waits for idleness first. */
void prefetch_start(Prefetcher *p, long n_items);
/* Waits for batch `item` (which must be the next one in order) and schedules item + 1; returns the
 * fill's result (its error message restored in this thread). The slot item % 2 is then the caller's
 * until the next prefetch_get. */
int prefetch_get(Prefetcher *p, long item);

#endif
