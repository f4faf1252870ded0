/* Epochs of batches over a loader's items (see batch_epochs.h). */
#include "data/batch_epochs.h"

#include "base/error.h"
#include "data/batch.h"

#include <stdlib.h>
#include <string.h>

int batch_epochs_init(BatchEpochs *e, const void *items, long n, size_t elem_size, const BatchEpochOptions *o,
                      PrefetchFillFn fill, void *ctx, const char *who, const char *what)
{
    memset(e, 0, sizeof *e);
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "%s: the chosen episodes have no %s (only start frames?)", who, what);
    long n_batches = o->drop_last ? n / o->batch_size : (n + o->batch_size - 1) / o->batch_size;
    if (n_batches == 0)
        return mvla_fail(MVLA_ERR_ARG, "%s: %ld %s make no full batch of %d (drop_last)", who, n, what, o->batch_size);
    void *order = malloc(elem_size * (size_t)n);
    if (!order) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for %ld %s", who, n, what);
    Prefetcher *pf = NULL;
    if (o->prefetch) {
        int rc = prefetch_new(&pf, fill, ctx);
        if (rc) {
            free(order);
            return rc;
        }
    }
    *e = (BatchEpochs){.items = items, .order = order, .elem_size = elem_size, .n = n, .n_batches = n_batches,
                       .o = *o, .fill = fill, .ctx = ctx, .pf = pf, .who = who};
    return MVLA_OK;
}

void batch_epochs_free(BatchEpochs *e)
{
    prefetch_free(e->pf); /* first: the thread may be filling a slot */
    free(e->order);
    memset(e, 0, sizeof *e);
}

int batch_epochs_start(BatchEpochs *e, int epoch)
{
    if (epoch < 0) return mvla_fail(MVLA_ERR_ARG, "%s: epoch %d: expected >= 0", e->who, epoch);
    if (e->pf) prefetch_wait_idle(e->pf);
    e->epoch = epoch;
    e->next_batch = 0;
    memcpy(e->order, e->items, e->elem_size * (size_t)e->n);
    if (e->o.shuffle) batch_shuffle(e->order, e->n, e->elem_size, e->o.seed, epoch);
    if (e->pf) prefetch_start(e->pf, e->n_batches);
    return MVLA_OK;
}

int batch_epochs_next(BatchEpochs *e, long *b)
{
    *b = -1;
    if (e->next_batch >= e->n_batches) return MVLA_OK;
    long i = e->next_batch;
    int rc = e->pf ? prefetch_get(e->pf, i) : e->fill(e->ctx, i, (int)(i % 2));
    if (rc) return rc;
    e->next_batch++;
    *b = i;
    return MVLA_OK;
}
