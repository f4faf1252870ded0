/* Episode files, the writer: h5py's layout and types (what the collector writes), atomically. */
#include "io/episode.h"

#include "base/error.h"
#include "base/file.h"
#include "io/episode_h5.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the writer ---- */

static int write_attr(hid_t file, const char *name, hid_t type, const void *value)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(file, name, type, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = a >= 0 && H5Awrite(a, type, value) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

/* h5py's str: variable-length, UTF-8, NUL-terminated. */
static hid_t vlen_utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static int write_str_attr(hid_t file, const char *name, const char *s)
{
    hid_t t = vlen_utf8_type();
    int rc = t >= 0 ? write_attr(file, name, t, &s) : -1;
    if (t >= 0) H5Tclose(t);
    return rc;
}

static int write_i64_attr(hid_t file, const char *name, long v)
{
    int64_t x = v;
    return write_attr(file, name, H5T_STD_I64LE, &x);
}

/* A gzip (level 4, h5py's default) chunked dataset of rank dims, written from buf in mem_type. */
static int write_dataset(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int rank,
                         const hsize_t *dims, const hsize_t *chunk, const void *buf)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    /* No object timestamps: the same episode must give the same bytes. */
    int ok = sp >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0;
    if (ok && dims[0] > 0) /* an empty dataset cannot be chunked to a fixed size */
        ok = H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_deflate(dcpl, 4) >= 0;
    hid_t ds = ok ? H5Dcreate2(file, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
    ok = ds >= 0 && (dims[0] == 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

/* images, one gzip chunk per frame. The frames are deflated in parallel (OpenMP) with the HDF5
 * lock released, then written as raw chunks under it; the result is exactly what H5Dwrite through
 * the deflate filter would store. Falls back to write_dataset without zlib. Called with the lock
 * held; returns with it held. */
static int write_images(hid_t file, const EpisodeInfo *in, const uint8_t *frames)
{
    int T = in->num_frames;
    hsize_t dims[4] = {(hsize_t)T, (hsize_t)in->height, (hsize_t)in->width, 3};
    hsize_t chunk[4] = {1, dims[1], dims[2], 3};
    Compress2Fn deflate = ep_zlib_compress2();
    if (T == 0 || !deflate) return write_dataset(file, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, dims, chunk, frames);
    size_t fb = (size_t)(dims[1] * dims[2] * 3);
    size_t bound = fb + (fb >> 12) + (fb >> 14) + (fb >> 25) + 13; /* zlib's compressBound */
    int batch = 2;
#ifdef _OPENMP
    batch = 2 * omp_get_max_threads();
#endif
    if (batch > T) batch = T;
    uint8_t *buf = malloc((size_t)batch * bound);
    uLongf *len = calloc((size_t)batch, sizeof *len);
    int *zrc = calloc((size_t)batch, sizeof *zrc);
    hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), ds = -1;
    int ok = buf && len && zrc && sp >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 &&
             H5Pset_chunk(dcpl, 4, chunk) >= 0 && H5Pset_deflate(dcpl, 4) >= 0;
    if (ok) ds = H5Dcreate2(file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = ok && ds >= 0;
    for (int t0 = 0; ok && t0 < T; t0 += batch) {
        int n = T - t0 < batch ? T - t0 : batch;
        episode_h5_unlock();
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            len[i] = (uLongf)bound;
            zrc[i] = deflate(buf + (size_t)i * bound, &len[i], frames + (size_t)(t0 + i) * fb, (uLong)fb, 4);
        }
        episode_h5_lock();
        for (int i = 0; ok && i < n; i++) {
            hsize_t off[4] = {(hsize_t)(t0 + i), 0, 0, 0};
            ok = zrc[i] == Z_OK && H5Dwrite_chunk(ds, H5P_DEFAULT, 0, off, (size_t)len[i], buf + (size_t)i * bound) >= 0;
        }
    }
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    free(buf), free(len), free(zrc);
    return ok ? 0 : -1;
}

/* The event of frame t when the caller gave none: what the collector records. */
static const char *default_event(const float *a, int t)
{
    if (t == 0) return "episode_start";
    return a[0] == 0 && a[1] == 0 && a[2] == 0 ? "stop_action" : "start_action";
}

#define WRITE_OR_FAIL(expr, what)                                                                              \
    do {                                                                                                       \
        if ((expr) < 0) {                                                                                      \
            rc = mvla_fail(MVLA_ERR_IO, "%s: cannot write %s: %s", path, what, ep_h5_reason(why));                  \
            goto done;                                                                                         \
        }                                                                                                      \
    } while (0)

static int write_locked(const char *tmp, const char *path, const EpisodeInfo *in, const uint8_t *frames)
{
    char why[160], stem[256];
    int rc = MVLA_OK, T = in->num_frames;
    const char **events = NULL;
    hid_t s256 = -1, vstr = -1;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot create HDF5 file: %s", path, ep_h5_reason(why));

    WRITE_OR_FAIL(write_images(file, in, frames), "dataset 'images'");
    hsize_t adims[2] = {(hsize_t)T, EPISODE_ACTION_DIM};
    WRITE_OR_FAIL(write_dataset(file, "actions", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, adims, adims, in->actions),
                  "dataset 'actions'");

    events = calloc((size_t)T + 1, sizeof *events);
    if (!events) {
        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int t = 0; t < T; t++)
        events[t] = in->events && in->events[t] ? in->events[t] : default_event(in->actions + (size_t)t * 3, t);
    vstr = vlen_utf8_type();
    hsize_t edims[1] = {(hsize_t)T};
    WRITE_OR_FAIL(vstr, "a string type");
    WRITE_OR_FAIL(write_dataset(file, "action_event_types", vstr, vstr, 1, edims, edims, events),
                  "dataset 'action_event_types'");

    if (in->instruction) {
        /* numpy bytes 'S256' as h5py stores them: fixed 256 bytes, NUL-padded, ASCII cset. */
        size_t len = strlen(in->instruction);
        if (len > 256) {
            rc = mvla_fail(MVLA_ERR_ARG, "%s: language_instruction is %zu bytes, S256 holds at most 256", path, len);
            goto done;
        }
        char buf[256] = {0};
        memcpy(buf, in->instruction, len);
        s256 = H5Tcopy(H5T_C_S1);
        WRITE_OR_FAIL(s256, "a string type");
        WRITE_OR_FAIL(H5Tset_size(s256, 256), "a string type");
        WRITE_OR_FAIL(H5Tset_strpad(s256, H5T_STR_NULLPAD), "a string type");
        hsize_t ldims[1] = {1};
        WRITE_OR_FAIL(write_dataset(file, "language_instruction", s256, s256, 1, ldims, ldims, buf),
                      "dataset 'language_instruction'");
    }

    ep_file_stem(path, stem, sizeof stem);
    WRITE_OR_FAIL(write_str_attr(file, "episode_name", in->episode_name ? in->episode_name : stem),
                  "attribute 'episode_name'");
    if (in->total_duration >= 0)
        WRITE_OR_FAIL(write_attr(file, "total_duration", H5T_IEEE_F64LE, &in->total_duration), "attribute 'total_duration'");
    WRITE_OR_FAIL(write_i64_attr(file, "num_frames", T), "attribute 'num_frames'");
    if (in->action_chunk_size > 0)
        WRITE_OR_FAIL(write_i64_attr(file, "action_chunk_size", in->action_chunk_size), "attribute 'action_chunk_size'");
    if (in->layout_attr)
        WRITE_OR_FAIL(write_str_attr(file, "obstacle_layout_type", in->layout_attr), "attribute 'obstacle_layout_type'");
    if (in->time_period) WRITE_OR_FAIL(write_str_attr(file, "time_period", in->time_period), "attribute 'time_period'");
    if (in->collection_datetime)
        WRITE_OR_FAIL(write_str_attr(file, "collection_datetime", in->collection_datetime),
                      "attribute 'collection_datetime'");
    if (in->collection_hour >= 0)
        WRITE_OR_FAIL(write_i64_attr(file, "collection_hour", in->collection_hour), "attribute 'collection_hour'");
    if (in->collection_minute >= 0)
        WRITE_OR_FAIL(write_i64_attr(file, "collection_minute", in->collection_minute), "attribute 'collection_minute'");
done:
    free(events);
    if (vstr >= 0) H5Tclose(vstr);
    if (s256 >= 0) H5Tclose(s256);
    if (H5Fclose(file) < 0 && rc == MVLA_OK) rc = mvla_fail(MVLA_ERR_IO, "%s: cannot finish HDF5 file: %s", path, ep_h5_reason(why));
    return rc;
}

int episode_write(const char *path, const EpisodeInfo *info, const uint8_t *frames)
{
    if (!info || info->num_frames < 0 || info->num_frames > MAX_FRAMES || info->height < 1 || info->width < 1 ||
        info->height > MAX_SIDE || info->width > MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "%s: episode to write: expected 0..%ld frames of 1..%d pixels a side, got %d x %d x %d",
                         path, MAX_FRAMES, MAX_SIDE, info ? info->num_frames : 0, info ? info->height : 0,
                         info ? info->width : 0);
    if (info->num_frames > 0 && (!frames || !info->actions))
        return mvla_fail(MVLA_ERR_ARG, "%s: episode to write: frames and actions are required", path);
    AtomicFile f;
    int rc = atomic_open(&f, path);
    if (rc) return rc;
    episode_h5_lock();
    rc = write_locked(f.tmp_path, path, info, frames);
    episode_h5_unlock();
    if (rc) {
        atomic_abort(&f);
        return rc;
    }
    return atomic_commit(&f);
}
