/* The background filling thread of the batch loaders: one job at a time, handed over with a mutex and
 * a condition variable; the error message of a failed fill travels back to the caller's thread. */
#include "data/prefetch.h"

#include "base/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct Prefetcher {
    PrefetchFillFn fill;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;
    long n_items;
    long job;   /* batch the worker should fill, -1 none */
    long done;  /* the last batch the worker finished this epoch, -1 none */
    int job_rc;
    char *job_err;
};

static void *worker(void *arg)
{
    Prefetcher *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->job < 0 && !p->quit) pthread_cond_wait(&p->cv, &p->mu);
        if (p->quit) break;
        long b = p->job;
        pthread_mutex_unlock(&p->mu);
        int rc = p->fill(p->ctx, b, (int)(b % 2));
        char *err = NULL;
        if (rc) {
            const char *m = mvla_error_message();
            if ((err = malloc(strlen(m) + 1))) strcpy(err, m);
        }
        pthread_mutex_lock(&p->mu);
        free(p->job_err);
        p->job_err = err;
        p->job_rc = rc;
        p->done = b;
        p->job = -1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int prefetch_new(Prefetcher **out, PrefetchFillFn fill, void *ctx)
{
    *out = NULL;
    Prefetcher *p = calloc(1, sizeof *p);
    if (!p) return mvla_fail(MVLA_ERR_NOMEM, "batches: out of memory");
    p->fill = fill;
    p->ctx = ctx;
    p->job = p->done = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return mvla_fail(MVLA_ERR_NOMEM, "batches: cannot start the background thread");
    }
    *out = p;
    return MVLA_OK;
}

void prefetch_free(Prefetcher *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->job_err);
    free(p);
}

void prefetch_wait_idle(Prefetcher *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->job >= 0) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void prefetch_start(Prefetcher *p, long n_items)
{
    pthread_mutex_lock(&p->mu);
    while (p->job >= 0) pthread_cond_wait(&p->cv, &p->mu);
    p->n_items = n_items;
    p->done = -1;
    p->job = n_items > 0 ? 0 : -1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int prefetch_get(Prefetcher *p, long item)
{
    pthread_mutex_lock(&p->mu);
    while (p->done != item) pthread_cond_wait(&p->cv, &p->mu);
    int rc = p->job_rc;
    if (rc) {
        mvla_fail(rc, "%s", p->job_err ? p->job_err : "batches: the background thread failed");
    } else if (item + 1 < p->n_items) { /* the caller is done with batch item-1: refill its slot */
        p->job = item + 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}
