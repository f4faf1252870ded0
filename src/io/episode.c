/* Episode files with libhdf5: the reader (metadata at open, frames on demand by hyperslab), the
 * atomic writer with h5py's layout and types, file-name parsing and the default instructions.
 * Every libhdf5 call runs under one global lock (serial HDF5 builds are not thread-safe) with
 * HDF5's own error printing silenced; its failures become mvla_fail messages naming the file and
 * the dataset or attribute. */
#include "io/episode.h"

#include "base/error.h"
#include "base/file.h"

#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep a hostile file from asking for absurd allocations. */
#define MAX_FRAMES (1L << 20)       /* about 9.7 hours at 30 fps */
#define MAX_SIDE 16384              /* pixels per image side */
#define MAX_STRING_BYTES (1L << 26) /* all fixed-length string bytes of one dataset */

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

/* The most specific message on HDF5's error stack ("" if none), for "...: <reason>" suffixes. */
static herr_t take_first_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && !buf[0]) snprintf(buf, 160, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char buf[160])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

/* ---- small helpers ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The file name without directory and without a .h5 / .hdf5 extension. */
static void file_stem(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", base_name(path));
    char *dot = strrchr(out, '.');
    if (dot && (strcmp(dot, ".h5") == 0 || strcmp(dot, ".hdf5") == 0)) *dot = '\0';
}

/* A short dtype description for error messages: "uint8", "float64", "string", ... */
static const char *type_text(hid_t t, char *buf, size_t n)
{
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", size * 8);
        break;
    case H5T_FLOAT: snprintf(buf, n, "float%zu", size * 8); break;
    case H5T_STRING: snprintf(buf, n, "string"); break;
    case H5T_COMPOUND: snprintf(buf, n, "compound"); break;
    case H5T_ENUM: snprintf(buf, n, "enum"); break;
    case H5T_ARRAY: snprintf(buf, n, "array"); break;
    case H5T_VLEN: snprintf(buf, n, "vlen"); break;
    case H5T_OPAQUE: snprintf(buf, n, "opaque"); break;
    default: snprintf(buf, n, "an unsupported type"); break;
    }
    return buf;
}

/* "(18, 720, 1280, 3)" */
static const char *shape_text(int rank, const hsize_t *dims, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < rank && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
    if (len < n) snprintf(buf + len, n - len, rank == 1 ? ",)" : ")");
    return buf;
}

/* Reads every element of a string dataset or attribute (obj, its type and space) into malloc'd
 * C strings. Handles variable-length and fixed-length strings (NUL- or space-padded). */
static int read_strings(const char *path, const char *what, hid_t obj, int is_attr, hid_t ftype,
                        size_t n, char **out)
{
    char why[160];
    memset(out, 0, n * sizeof *out);
    if (n == 0) return MVLA_OK;
    int vlen = H5Tis_variable_str(ftype);
    if (vlen < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: unreadable string type: %s", path, what, h5_reason(why));
    hid_t mt = -1;
    int rc = MVLA_OK;
    if (vlen) {
        char **tmp = calloc(n, sizeof *tmp);
        mt = H5Tcopy(H5T_C_S1);
        if (!tmp || mt < 0) {
            free(tmp);
            if (mt >= 0) H5Tclose(mt);
            return mvla_fail(MVLA_ERR_NOMEM, "%s: %s: out of memory", path, what);
        }
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ftype));
        herr_t e = is_attr ? H5Aread(obj, mt, tmp) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp);
        if (e < 0) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read strings: %s", path, what, h5_reason(why));
        for (size_t i = 0; i < n; i++) {
            if (rc == MVLA_OK && !(out[i] = dup_str(tmp[i] ? tmp[i] : "")))
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: %s: out of memory", path, what);
            if (e >= 0 && tmp[i]) H5free_memory(tmp[i]);
        }
        free(tmp);
    } else {
        size_t size = H5Tget_size(ftype);
        if (size == 0 || size > (size_t)MAX_STRING_BYTES / n)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: %zu strings of %zu bytes is too large", path, what, n, size);
        H5T_str_t pad = H5Tget_strpad(ftype);
        char *raw = malloc(n * size);
        mt = H5Tcopy(ftype);
        if (!raw || mt < 0) {
            free(raw);
            if (mt >= 0) H5Tclose(mt);
            return mvla_fail(MVLA_ERR_NOMEM, "%s: %s: out of memory", path, what);
        }
        herr_t e = is_attr ? H5Aread(obj, mt, raw) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
        if (e < 0) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read strings: %s", path, what, h5_reason(why));
        for (size_t i = 0; i < n && rc == MVLA_OK; i++) {
            const char *s = raw + i * size;
            size_t len = strnlen(s, size);
            if (pad == H5T_STR_SPACEPAD)
                while (len > 0 && s[len - 1] == ' ') len--;
            if (!(out[i] = malloc(len + 1))) {
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: %s: out of memory", path, what);
                break;
            }
            memcpy(out[i], s, len);
            out[i][len] = '\0';
        }
        free(raw);
    }
    H5Tclose(mt);
    if (rc != MVLA_OK)
        for (size_t i = 0; i < n; i++) free(out[i]), out[i] = NULL;
    return rc;
}

/* ---- attributes ---- */

typedef enum { ATTR_STRING, ATTR_INT, ATTR_DOUBLE } AttrKind;

/* Reads root attribute name if present (*present = 0 if absent). String attributes may be scalar
 * or hold one element; numbers may be stored as any integer or float type. */
static int read_attr(hid_t file, const char *path, const char *name, AttrKind kind, int *present,
                     char **s, long *l, double *d)
{
    char why[160], what[96], tt[32];
    *present = 0;
    htri_t ex = H5Aexists(file, name);
    if (ex < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: attribute '%s': unreadable: %s", path, name, h5_reason(why));
    if (!ex) return MVLA_OK;
    snprintf(what, sizeof what, "attribute '%s'", name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot open: %s", path, what, h5_reason(why));
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = MVLA_OK;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t < 0 || sp < 0 || np < 0) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: unreadable type or shape: %s", path, what, h5_reason(why));
    } else if (np != 1) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: %lld values, expected one", path, what, (long long)np);
    } else if (kind == ATTR_STRING) {
        if (cls != H5T_STRING)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: type %s, expected a string", path, what, type_text(t, tt, sizeof tt));
        else
            rc = read_strings(path, what, a, 1, t, 1, s);
    } else if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: type %s, expected a number", path, what, type_text(t, tt, sizeof tt));
    } else {
        double v = 0;
        long long iv = 0;
        herr_t e = cls == H5T_INTEGER && kind == ATTR_INT ? H5Aread(a, H5T_NATIVE_LLONG, &iv)
                                                         : H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        if (e < 0) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read: %s", path, what, h5_reason(why));
        } else if (kind == ATTR_DOUBLE) {
            *d = v;
        } else if (cls == H5T_INTEGER) {
            *l = (long)iv;
        } else if (!(v == floor(v) && fabs(v) < 9e15)) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: %g, expected an integer", path, what, v);
        } else {
            *l = (long)v;
        }
    }
    if (rc == MVLA_OK) *present = 1;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* ---- the reader ---- */

struct EpisodeReader {
    EpisodeInfo info;
    hid_t file, images, fspace, mspace;
};

static int open_dataset_raw(hid_t file, const char *path, const char *name, int required, hid_t *ds, hid_t *type,
                            int *rank, hsize_t dims[8])
{
    char why[160];
    *ds = *type = -1;
    htri_t ex = H5Lexists(file, name, H5P_DEFAULT);
    if (ex < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable: %s", path, name, h5_reason(why));
    if (!ex) return required ? mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s' is missing", path, name) : MVLA_OK;
    *ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (*ds < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: '%s' is not a readable dataset: %s", path, name, h5_reason(why));
    hid_t sp = H5Dget_space(*ds);
    *type = H5Dget_type(*ds);
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (sp < 0 || *type < 0 || r < 0 || r > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        if (sp >= 0) H5Sclose(sp);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable type or shape: %s", path, name, h5_reason(why));
    }
    H5Sclose(sp);
    *rank = r;
    /* libhdf5 1.10 copies a compact dataset's data without checking it against the dataspace (found
     * by fuzzing: a heap over-read inside H5Dread), so the sizes are checked here first. */
    hid_t dcpl = H5Dget_create_plist(*ds);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (layout == H5D_LAYOUT_ERROR)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable layout: %s", path, name, h5_reason(why));
    if (layout == H5D_COMPACT) {
        hsize_t bytes = H5Tget_size(*type);
        for (int d = 0; d < r; d++) bytes = dims[d] && bytes > ((hsize_t)1 << 40) / dims[d] ? (hsize_t)1 << 40 : bytes * dims[d];
        if (H5Dget_storage_size(*ds) != bytes && H5Tis_variable_str(*type) <= 0)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': damaged: compact storage of %llu bytes for %llu bytes of data",
                             path, name, (unsigned long long)H5Dget_storage_size(*ds), (unsigned long long)bytes);
    }
    return MVLA_OK;
}

/* Opens dataset name: *ds = -1 and MVLA_OK when absent and optional. Fills type, rank and dims.
 * On failure nothing stays open. */
static int open_dataset(hid_t file, const char *path, const char *name, int required, hid_t *ds, hid_t *type,
                        int *rank, hsize_t dims[8])
{
    int rc = open_dataset_raw(file, path, name, required, ds, type, rank, dims);
    if (rc) {
        if (*type >= 0) H5Tclose(*type);
        if (*ds >= 0) H5Dclose(*ds);
        *ds = *type = -1;
    }
    return rc;
}

static void close_ids(hid_t ds, hid_t type)
{
    if (type >= 0) H5Tclose(type);
    if (ds >= 0) H5Dclose(ds);
}

/* h5py chunks images on its own, e.g. (3, 90, 160, 1) for 720p: one frame touches 192 chunks and
 * each chunk holds 3 frames. HDF5's default 1 MiB chunk cache then decompresses every chunk again
 * for each of its frames, so frame-by-frame reading would inflate the whole episode 3 times. The
 * images are reopened with a cache that holds every chunk one frame touches (at most 256 MiB). */
static int size_chunk_cache(EpisodeReader *r, const char *path, const hsize_t dims[4])
{
    char why[160];
    hid_t dcpl = H5Dget_create_plist(r->images);
    hsize_t c[4];
    int chunked = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, c) == 4;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (!chunked || c[0] <= 1 || c[1] < 1 || c[2] < 1 || c[3] < 1) return MVLA_OK; /* the default is right */
    hsize_t per_frame = ((dims[1] + c[1] - 1) / c[1]) * ((dims[2] + c[2] - 1) / c[2]) * ((dims[3] + c[3] - 1) / c[3]);
    hsize_t chunk_bytes = c[0] * c[1] * c[2] * c[3];
    if (per_frame > ((hsize_t)1 << 28) / chunk_bytes) return MVLA_OK; /* too big to cache: read as is */
    size_t bytes = (size_t)(per_frame * chunk_bytes + chunk_bytes), slots = (size_t)per_frame * 8 + 1;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t ds = -1;
    if (dapl >= 0 && H5Pset_chunk_cache(dapl, slots, bytes, 1.0) >= 0) ds = H5Dopen2(r->file, "images", dapl);
    if (dapl >= 0) H5Pclose(dapl);
    if (ds < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot reopen: %s", path, h5_reason(why));
    H5Dclose(r->images);
    r->images = ds;
    return MVLA_OK;
}

/* images: uint8 (T, H, W, 3). Keeps the dataset open in r->images. */
static int open_images(EpisodeReader *r, const char *path)
{
    hsize_t dims[8];
    char tt[32], st[160], why[160];
    int rank = 0;
    hid_t type;
    int rc = open_dataset(r->file, path, "images", 1, &r->images, &type, &rank, dims);
    if (rc) return rc;
    if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 || H5Tget_sign(type) != H5T_SGN_NONE)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': dtype %s, expected uint8", path, type_text(type, tt, sizeof tt));
    else if (rank != 4 || dims[3] != 3)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': shape %s, expected (T, H, W, 3)", path,
                       shape_text(rank, dims, st, sizeof st));
    else if (dims[0] > (hsize_t)MAX_FRAMES || dims[1] < 1 || dims[2] < 1 || dims[1] > MAX_SIDE || dims[2] > MAX_SIDE)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': shape %s, expected 0..%ld frames of 1..%d pixels a side",
                       path, shape_text(rank, dims, st, sizeof st), MAX_FRAMES, MAX_SIDE);
    H5Tclose(type);
    if (rc) return rc;
    /* Deflate compresses at most about 1032:1, so far fewer stored bytes than that means chunks that
     * were never written: a damaged file (and reading it would decode fill values for nothing). */
    hsize_t raw = dims[0] * dims[1] * dims[2] * 3, stored = H5Dget_storage_size(r->images);
    if (rc == MVLA_OK && raw > 0 && stored < raw / 2048)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': %llu bytes stored for %llu bytes of frames (damaged or never written)",
                       path, (unsigned long long)stored, (unsigned long long)raw);
    if (rc) return rc;
    if ((rc = size_chunk_cache(r, path, dims))) return rc;
    r->info.num_frames = (int)dims[0];
    r->info.height = (int)dims[1];
    r->info.width = (int)dims[2];
    /* The memory space has the frame's own 4-d shape: HDF5 then moves whole runs instead of
     * iterating a reshaped selection byte by byte (several times faster on h5py's chunking). */
    hsize_t frame[4] = {1, dims[1], dims[2], 3};
    r->fspace = H5Dget_space(r->images);
    r->mspace = H5Screate_simple(4, frame, NULL);
    if (r->fspace < 0 || r->mspace < 0)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot select frames: %s", path, h5_reason(why));
    return MVLA_OK;
}

/* actions: float32 or float64 (T, 3), read as float. */
static int read_actions(EpisodeReader *r, const char *path)
{
    hsize_t dims[8];
    char tt[32], st[160], why[160];
    int rank = 0;
    hid_t ds, type;
    int T = r->info.num_frames;
    int rc = open_dataset(r->file, path, "actions", 1, &ds, &type, &rank, dims);
    if (rc) return rc;
    if (H5Tget_class(type) != H5T_FLOAT)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'actions': dtype %s, expected float32 or float64", path,
                       type_text(type, tt, sizeof tt));
    else if (rank != 2 || dims[1] != EPISODE_ACTION_DIM)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'actions': shape %s, expected (T, 3)", path,
                       shape_text(rank, dims, st, sizeof st));
    else if (dims[0] != (hsize_t)T)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'actions': shape %s, expected (%d, 3) to match images", path,
                       shape_text(rank, dims, st, sizeof st), T);
    if (rc == MVLA_OK) {
        r->info.actions = calloc((size_t)T * EPISODE_ACTION_DIM + 1, sizeof(float));
        if (!r->info.actions)
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: dataset 'actions': out of memory", path);
        else if (T > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->info.actions) < 0)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'actions': cannot read: %s", path, h5_reason(why));
    }
    close_ids(ds, type);
    return rc;
}

/* action_event_types: strings (T,), optional (then T NULL entries). */
static int read_events(EpisodeReader *r, const char *path)
{
    hsize_t dims[8];
    char tt[32], st[160];
    int rank = 0;
    hid_t ds, type;
    int T = r->info.num_frames;
    r->info.events = calloc((size_t)T + 1, sizeof(char *));
    if (!r->info.events) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    int rc = open_dataset(r->file, path, "action_event_types", 0, &ds, &type, &rank, dims);
    if (rc || ds < 0) return rc;
    if (H5Tget_class(type) != H5T_STRING)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'action_event_types': dtype %s, expected strings", path,
                       type_text(type, tt, sizeof tt));
    else if (rank != 1 || dims[0] != (hsize_t)T)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'action_event_types': shape %s, expected (%d,) to match images",
                       path, shape_text(rank, dims, st, sizeof st), T);
    else
        rc = read_strings(path, "dataset 'action_event_types'", ds, 0, type, (size_t)T, r->info.events);
    close_ids(ds, type);
    return rc;
}

/* language_instruction: one string (S256 of shape (1,) as the collector writes it; any string
 * dataset with at least one element is accepted, its first element used). Optional. */
static int read_instruction(EpisodeReader *r, const char *path)
{
    hsize_t dims[8];
    char tt[32], why[160];
    int rank = 0;
    hid_t ds, type;
    int rc = open_dataset(r->file, path, "language_instruction", 0, &ds, &type, &rank, dims);
    if (rc || ds < 0) return rc;
    hsize_t n = 1;
    for (int d = 0; d < rank; d++) n = dims[d] && n > (hsize_t)MAX_FRAMES / dims[d] ? (hsize_t)MAX_FRAMES + 1 : n * dims[d];
    if (H5Tget_class(type) != H5T_STRING) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': dtype %s, expected a string", path,
                       type_text(type, tt, sizeof tt));
    } else if (n < 1 || n > 4096) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': %llu elements, expected 1", path,
                       (unsigned long long)n);
    } else {
        /* Read just the first element through a one-element selection. */
        hid_t fsp = H5Dget_space(ds), msp = H5Screate(H5S_SCALAR);
        hsize_t start[8] = {0}, count[8];
        for (int d = 0; d < rank; d++) count[d] = 1;
        if (fsp < 0 || msp < 0 || (rank > 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0)) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': unreadable: %s", path, h5_reason(why));
        } else if (H5Tis_variable_str(type) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            char *s = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(type));
            if (H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, &s) < 0)
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': cannot read: %s", path, h5_reason(why));
            else if (!(r->info.instruction = dup_str(s ? s : "")))
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
            if (s) H5free_memory(s);
            H5Tclose(mt);
        } else {
            size_t size = H5Tget_size(type);
            char *raw = size > 0 && size <= 65536 ? calloc(1, size + 1) : NULL;
            hid_t mt = H5Tcopy(type);
            if (!raw)
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': string of %zu bytes, expected 1..65536",
                               path, size);
            else if (H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, raw) < 0)
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': cannot read: %s", path, h5_reason(why));
            if (rc == MVLA_OK) {
                size_t len = strnlen(raw, size);
                if (H5Tget_strpad(type) == H5T_STR_SPACEPAD)
                    while (len > 0 && raw[len - 1] == ' ') len--;
                raw[len] = '\0';
                r->info.instruction = raw;
                raw = NULL;
            }
            free(raw);
            if (mt >= 0) H5Tclose(mt);
        }
        if (fsp >= 0) H5Sclose(fsp);
        if (msp >= 0) H5Sclose(msp);
    }
    close_ids(ds, type);
    return rc;
}

static int read_attributes(EpisodeReader *r, const char *path)
{
    EpisodeInfo *in = &r->info;
    int present, rc;
    long l;
    double d;
    char *s = NULL;
    if ((rc = read_attr(r->file, path, "episode_name", ATTR_STRING, &present, &s, NULL, NULL))) return rc;
    if (present) in->episode_name = s, s = NULL;
    if ((rc = read_attr(r->file, path, "total_duration", ATTR_DOUBLE, &present, NULL, NULL, &d))) return rc;
    if (present) in->total_duration = d;
    if ((rc = read_attr(r->file, path, "num_frames", ATTR_INT, &present, NULL, &l, NULL))) return rc;
    if (present) in->num_frames_attr = l;
    if ((rc = read_attr(r->file, path, "action_chunk_size", ATTR_INT, &present, NULL, &l, NULL))) return rc;
    if (present) in->action_chunk_size = l;
    if ((rc = read_attr(r->file, path, "obstacle_layout_type", ATTR_STRING, &present, &in->layout_attr, NULL, NULL))) return rc;
    if ((rc = read_attr(r->file, path, "time_period", ATTR_STRING, &present, &in->time_period, NULL, NULL))) return rc;
    if ((rc = read_attr(r->file, path, "collection_datetime", ATTR_STRING, &present, &in->collection_datetime, NULL, NULL)))
        return rc;
    if ((rc = read_attr(r->file, path, "collection_hour", ATTR_INT, &present, NULL, &l, NULL))) return rc;
    if (present) in->collection_hour = l;
    if ((rc = read_attr(r->file, path, "collection_minute", ATTR_INT, &present, NULL, &l, NULL))) return rc;
    if (present) in->collection_minute = l;
    return MVLA_OK;
}

static void free_info_fields(EpisodeInfo *in)
{
    free(in->path);
    free(in->episode_name);
    free(in->actions);
    if (in->events)
        for (int t = 0; t < in->num_frames; t++) free(in->events[t]);
    free(in->events);
    free(in->instruction);
    free(in->layout_attr);
    free(in->time_period);
    free(in->collection_datetime);
}

void episode_info_free(EpisodeInfo *info)
{
    if (!info) return;
    free_info_fields(info);
    memset(info, 0, sizeof *info);
}

static int copy_str(char **dst, const char *src)
{
    *dst = NULL;
    return !src || (*dst = dup_str(src)) ? 0 : -1;
}

int episode_info_copy(EpisodeInfo *dst, const EpisodeInfo *src)
{
    *dst = *src;
    dst->path = dst->episode_name = dst->instruction = dst->layout_attr = dst->time_period = NULL;
    dst->collection_datetime = NULL;
    dst->actions = NULL;
    dst->events = NULL;
    int T = src->num_frames > 0 ? src->num_frames : 0, bad = 0;
    bad |= copy_str(&dst->path, src->path) | copy_str(&dst->episode_name, src->episode_name);
    bad |= copy_str(&dst->instruction, src->instruction) | copy_str(&dst->layout_attr, src->layout_attr);
    bad |= copy_str(&dst->time_period, src->time_period);
    bad |= copy_str(&dst->collection_datetime, src->collection_datetime);
    if (src->actions) {
        dst->actions = malloc(((size_t)T * EPISODE_ACTION_DIM + 1) * sizeof(float));
        if (dst->actions) memcpy(dst->actions, src->actions, (size_t)T * EPISODE_ACTION_DIM * sizeof(float));
        else bad = 1;
    }
    if (src->events) {
        dst->events = calloc((size_t)T + 1, sizeof(char *));
        if (!dst->events) bad = 1;
        for (int t = 0; t < T && dst->events; t++) bad |= copy_str(&dst->events[t], src->events[t]);
    }
    if (bad) {
        episode_info_free(dst);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory copying episode info", src->path ? src->path : "episode");
    }
    return MVLA_OK;
}

/* Closes everything; the caller holds the lock. */
static void reader_free(EpisodeReader *r)
{
    if (!r) return;
    if (r->mspace >= 0) H5Sclose(r->mspace);
    if (r->fspace >= 0) H5Sclose(r->fspace);
    if (r->images >= 0) H5Dclose(r->images);
    if (r->file >= 0) H5Fclose(r->file);
    free_info_fields(&r->info);
    free(r);
}

static int open_locked(EpisodeReader *r, const char *path)
{
    char why[160];
    FILE *fp = fopen(path, "rb");
    if (!fp) return mvla_fail(MVLA_ERR_IO, "%s: cannot open", path);
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, fp);
    fclose(fp);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        /* HDF5 also finds superblocks at 512, 1024, ... so only the error text uses the signature. */
        static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
        if (got == 8 && memcmp(sig, h5sig, 8) == 0)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: damaged HDF5 file (truncated?): %s", path, h5_reason(why));
        return mvla_fail(MVLA_ERR_FORMAT, "%s: not an HDF5 file%s", path, got == 0 ? " (empty)" : "");
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: cannot open as HDF5 (truncated?): %s", path, h5_reason(why));
    int rc;
    if ((rc = open_images(r, path)) || (rc = read_actions(r, path)) || (rc = read_events(r, path)) ||
        (rc = read_instruction(r, path)) || (rc = read_attributes(r, path)))
        return rc;
    if (!r->info.episode_name) {
        char stem[256];
        file_stem(path, stem, sizeof stem);
        if (!(r->info.episode_name = dup_str(stem))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    return MVLA_OK;
}

int episode_open(EpisodeReader **out, const char *path)
{
    *out = NULL;
    EpisodeReader *r = calloc(1, sizeof *r);
    if (!r) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    r->file = r->images = r->fspace = r->mspace = -1;
    r->info.collection_hour = r->info.collection_minute = -1;
    r->info.num_frames_attr = -1;
    episode_parse_name(path, &r->info.name);
    if (!(r->info.path = dup_str(path))) {
        free(r);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    episode_h5_lock();
    int rc = open_locked(r, path);
    if (rc) {
        /* Keep the message, not HDF5's side effects. */
        reader_free(r);
        H5Eclear2(H5E_DEFAULT);
    } else {
        *out = r;
    }
    episode_h5_unlock();
    return rc;
}

const EpisodeInfo *episode_info(const EpisodeReader *r) { return &r->info; }

int episode_read_frame(EpisodeReader *r, int t, uint8_t *dst)
{
    const EpisodeInfo *in = &r->info;
    if (t < 0 || t >= in->num_frames)
        return mvla_fail(MVLA_ERR_ARG, "%s: frame %d: expected 0..%d", in->path, t, in->num_frames - 1);
    hsize_t start[4] = {(hsize_t)t, 0, 0, 0}, count[4] = {1, (hsize_t)in->height, (hsize_t)in->width, 3};
    char why[160];
    int rc = MVLA_OK;
    episode_h5_lock();
    if (H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(r->images, H5T_NATIVE_UINT8, r->mspace, r->fspace, H5P_DEFAULT, dst) < 0)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot read frame %d: %s", in->path, t, h5_reason(why));
    episode_h5_unlock();
    return rc;
}

void episode_close(EpisodeReader *r)
{
    if (!r) return;
    episode_h5_lock();
    reader_free(r);
    episode_h5_unlock();
}

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
    int ok = sp >= 0 && dcpl >= 0;
    if (ok && dims[0] > 0) /* an empty dataset cannot be chunked to a fixed size */
        ok = H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_deflate(dcpl, 4) >= 0;
    hid_t ds = ok ? H5Dcreate2(file, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
    ok = ds >= 0 && (dims[0] == 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
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
            rc = mvla_fail(MVLA_ERR_IO, "%s: cannot write %s: %s", path, what, h5_reason(why));                  \
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
    if (file < 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot create HDF5 file: %s", path, h5_reason(why));

    hsize_t idims[4] = {(hsize_t)T, (hsize_t)in->height, (hsize_t)in->width, 3};
    hsize_t ichunk[4] = {1, idims[1], idims[2], 3};
    WRITE_OR_FAIL(write_dataset(file, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, ichunk, frames),
                  "dataset 'images'");
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

    file_stem(path, stem, sizeof stem);
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
    if (H5Fclose(file) < 0 && rc == MVLA_OK) rc = mvla_fail(MVLA_ERR_IO, "%s: cannot finish HDF5 file: %s", path, h5_reason(why));
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

/* ---- names and instructions ---- */

static int one_of(const char *tok, const char *const *words, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(tok, words[i]) == 0) return 1;
    return 0;
}

void episode_parse_name(const char *path, EpisodeName *out)
{
    static const char *const layouts[] = {"vert", "hori"}, *const sides[] = {"left", "right"},
                             *const kinds[] = {"core", "variant"}, *const dists[] = {"close", "medium", "far"},
                             *const lights[] = {"dawn", "morning", "evening", "night"};
    memset(out, 0, sizeof *out);
    char stem[256];
    file_stem(path, stem, sizeof stem);
    char *ep = strstr(stem, "episode_");
    if (ep == stem) snprintf(out->target, sizeof out->target, "cup");
    else if (ep && ep[-1] == '_') snprintf(out->target, sizeof out->target, "%.*s", (int)(ep - 1 - stem), stem);
    /* Every '_'-separated token is matched against the known words, in any order. */
    char *save = NULL;
    for (char *tok = strtok_r(ep ? ep : stem, "_", &save); tok; tok = strtok_r(NULL, "_", &save)) {
        if (strcmp(tok, "1box") == 0 || strcmp(tok, "2box") == 0) out->boxes = tok[0] - '0';
        else if (one_of(tok, layouts, 2)) snprintf(out->layout, sizeof out->layout, "%s", tok);
        else if (one_of(tok, sides, 2)) snprintf(out->side, sizeof out->side, "%s", tok);
        else if (one_of(tok, kinds, 2)) snprintf(out->kind, sizeof out->kind, "%s", tok);
        else if (one_of(tok, dists, 3)) snprintf(out->distance, sizeof out->distance, "%s", tok);
        else if (one_of(tok, lights, 4)) snprintf(out->lighting, sizeof out->lighting, "%s", tok);
    }
    if (out->boxes && out->layout[0] && out->side[0])
        snprintf(out->scenario, sizeof out->scenario, "%dbox_%s_%s", out->boxes, out->layout, out->side);
}

const char *episode_default_instruction(const char *side, const char *lang)
{
    return episode_default_instruction_for(NULL, side, lang);
}

const char *episode_default_instruction_for(const char *target, const char *side, const char *lang)
{
    int ko = lang && strcmp(lang, "ko") == 0;
    int left = side && strcmp(side, "left") == 0, right = side && strcmp(side, "right") == 0;
    if (ko) /* the original Korean instructions were all about the cup */
        return left ? "가장 왼쪽 외곽으로 돌아 컵까지 가세요"
               : right ? "가장 오른쪽 외곽으로 돌아 컵까지 가세요"
                       : "컵까지 가세요";
    if (target && strcmp(target, "basket") == 0)
        return left ? "Navigate to the gray basket on the left"
               : right ? "Navigate to the gray basket on the right"
                       : "Navigate to the gray basket";
    return left ? "Navigate around obstacles and reach the front of the beverage bottle on the left"
           : right ? "Navigate around obstacles and reach the front of the beverage bottle on the right"
                   : "Navigate around obstacles and reach the front of the beverage bottle";
}
