/* The global libhdf5 lock, HDF5 error text, zlib lookup and small helpers for the episode files. */
#include "io/episode_h5.h"

#include "io/episode.h"

#include <dlfcn.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the global HDF5 lock ---- */

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static int h5_ready;

void episode_h5_lock(void)
{
    pthread_mutex_lock(&h5_mutex);
    if (!h5_ready) {
        H5open();
        h5_ready = 1;
    }
    /* The error-printing switch is per thread in thread-safe builds, so set it every time. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void episode_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

static herr_t take_first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && !buf[0]) snprintf(buf, 160, "%s", e->desc);
    return 0;
}

const char *ep_h5_reason(char buf[160])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

static UncompressFn uncompress_fn;
static Compress2Fn compress2_fn;
static pthread_once_t zlib_once = PTHREAD_ONCE_INIT;

static void find_zlib(void)
{
    *(void **)(&uncompress_fn) = dlsym(RTLD_DEFAULT, "uncompress");
    *(void **)(&compress2_fn) = dlsym(RTLD_DEFAULT, "compress2");
}

UncompressFn ep_zlib_uncompress(void)
{
    pthread_once(&zlib_once, find_zlib);
    return uncompress_fn;
}

Compress2Fn ep_zlib_compress2(void)
{
    pthread_once(&zlib_once, find_zlib);
    return compress2_fn;
}

/* ---- small helpers ---- */

char *ep_dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

const char *ep_base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void ep_file_stem(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", ep_base_name(path));
    char *dot = strrchr(out, '.');
    if (dot && (strcmp(dot, ".h5") == 0 || strcmp(dot, ".hdf5") == 0)) *dot = '\0';
}
