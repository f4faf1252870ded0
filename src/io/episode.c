/* Episode files with libhdf5, the reader: metadata at open, frames on demand (raw gzip chunks
 * inflated outside the HDF5 lock, or a hyperslab through H5Dread). The writer is episode_write.c,
 * names and instructions episode_name.c, shared internals episode_h5.c.
 * Every libhdf5 call runs under one global lock (serial HDF5 builds are not thread-safe) with
 * HDF5's own error printing silenced; its failures become mvla_fail messages naming the file and
 * the dataset or attribute. */
#include "io/episode.h"

#include "base/error.h"
#include "io/episode_h5.h"

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (vlen < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: unreadable string type: %s", path, what, ep_h5_reason(why));
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
        if (e < 0) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read strings: %s", path, what, ep_h5_reason(why));
        for (size_t i = 0; i < n; i++) {
            if (rc == MVLA_OK && !(out[i] = ep_dup_str(tmp[i] ? tmp[i] : "")))
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
        if (e < 0) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read strings: %s", path, what, ep_h5_reason(why));
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
    if (ex < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: attribute '%s': unreadable: %s", path, name, ep_h5_reason(why));
    if (!ex) return MVLA_OK;
    snprintf(what, sizeof what, "attribute '%s'", name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot open: %s", path, what, ep_h5_reason(why));
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = MVLA_OK;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t < 0 || sp < 0 || np < 0) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: unreadable type or shape: %s", path, what, ep_h5_reason(why));
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
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: cannot read: %s", path, what, ep_h5_reason(why));
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
    /* Direct chunk reading (read_slab): chunks are fetched raw under the lock and inflated outside
     * it, so threads reading different episodes decompress in parallel. */
    int direct;          /* images are chunked, deflate-only or unfiltered, and not too big */
    int deflate;         /* the chunks are deflate-compressed */
    hsize_t chunk[4];
    size_t chunk_bytes;
    int slab;            /* which run of chunk[0] frames slab_buf holds decoded; -1 none */
    uint8_t *slab_buf;   /* chunk[0] x height x width x 3 */
    uint8_t *zbuf, *cbuf;
    size_t zcap;
};

static int open_dataset_raw(hid_t file, const char *path, const char *name, int required, hid_t *ds, hid_t *type,
                            int *rank, hsize_t dims[8])
{
    char why[160];
    *ds = *type = -1;
    htri_t ex = H5Lexists(file, name, H5P_DEFAULT);
    if (ex < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable: %s", path, name, ep_h5_reason(why));
    if (!ex) return required ? mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s' is missing", path, name) : MVLA_OK;
    *ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (*ds < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: '%s' is not a readable dataset: %s", path, name, ep_h5_reason(why));
    hid_t sp = H5Dget_space(*ds);
    *type = H5Dget_type(*ds);
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (sp < 0 || *type < 0 || r < 0 || r > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        if (sp >= 0) H5Sclose(sp);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable type or shape: %s", path, name, ep_h5_reason(why));
    }
    H5Sclose(sp);
    *rank = r;
    /* libhdf5 1.10 copies a compact dataset's data without checking it against the dataspace (found
     * by fuzzing: a heap over-read inside H5Dread), so the sizes are checked here first. */
    hid_t dcpl = H5Dget_create_plist(*ds);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (layout == H5D_LAYOUT_ERROR)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable layout: %s", path, name, ep_h5_reason(why));
    if (layout == H5D_COMPACT) {
        hsize_t bytes = H5Tget_size(*type);
        for (int d = 0; d < r; d++) bytes = dims[d] && bytes > ((hsize_t)1 << 40) / dims[d] ? (hsize_t)1 << 40 : bytes * dims[d];
        if (H5Dget_storage_size(*ds) != bytes && H5Tis_variable_str(*type) <= 0)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': damaged: compact storage of %llu bytes for %llu bytes of data",
                             path, name, (unsigned long long)H5Dget_storage_size(*ds), (unsigned long long)bytes);
    }
    return MVLA_OK;
}

/* Inflates every chunk of a small gzip-chunked dataset of fixed-size elements once, and fails
 * unless each gives exactly one chunk of data: libhdf5 1.10 copies a full chunk out of a shorter
 * inflated buffer (a heap over-read the fuzzer found in H5Dread). Unfiltered chunks must be stored
 * at their full size. Other filters, variable-length elements and datasets of more than 4096 chunks
 * are left to libhdf5 (images are checked chunk by chunk as frames are read instead). */
static int validate_chunks(hid_t ds, hid_t type, int rank, const hsize_t *dims, const char *path, const char *name)
{
    if (H5Tis_variable_str(type) != 0 || H5Tget_class(type) == H5T_VLEN || rank < 1) return MVLA_OK;
    hid_t dcpl = H5Dget_create_plist(ds);
    if (dcpl < 0) return MVLA_OK;
    hsize_t c[8], n_chunks = 1, chunk_bytes = H5Tget_size(type);
    int ok = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, rank, c) == rank;
    int nf = ok ? H5Pget_nfilters(dcpl) : -1, deflate = 0;
    if (nf == 1) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        deflate = H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE;
    }
    H5Pclose(dcpl);
    if (!ok || !(nf == 0 || (deflate && ep_zlib_uncompress()))) return MVLA_OK;
    for (int d = 0; d < rank; d++) {
        if (c[d] < 1 || chunk_bytes > ((hsize_t)1 << 26) / c[d]) return MVLA_OK;
        chunk_bytes *= c[d];
        n_chunks *= dims[d] ? (dims[d] + c[d] - 1) / c[d] : 0;
        if (n_chunks > 4096) return MVLA_OK;
    }
    if (n_chunks == 0) return MVLA_OK;
    uint8_t *z = NULL, *out = malloc((size_t)chunk_bytes);
    size_t zcap = 0;
    hsize_t off[8] = {0};
    int rc = out ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    for (hsize_t k = 0; rc == MVLA_OK && k < n_chunks; k++) {
        hsize_t stored = 0, rest = k;
        for (int d = rank - 1; d >= 0; d--) {
            hsize_t per = (dims[d] + c[d] - 1) / c[d];
            off[d] = (rest % per) * c[d];
            rest /= per;
        }
        if (H5Dget_chunk_storage_size(ds, off, &stored) < 0 || stored == 0) { /* unwritten: fill values */
            H5Eclear2(H5E_DEFAULT);
            continue;
        }
        uint32_t mask = 0;
        if (stored > chunk_bytes + chunk_bytes / 8 + 4096) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': damaged chunk (%llu bytes stored for %llu)", path, name,
                           (unsigned long long)stored, (unsigned long long)chunk_bytes);
            break;
        }
        if (stored > zcap) {
            uint8_t *bigger = realloc(z, (size_t)stored);
            if (!bigger) {
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            z = bigger, zcap = (size_t)stored;
        }
        char why[160];
        if (H5Dread_chunk(ds, H5P_DEFAULT, off, &mask, z) < 0) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': unreadable chunk: %s", path, name, ep_h5_reason(why));
            break;
        }
        uLongf len = (uLongf)chunk_bytes;
        int good = deflate && !(mask & 1) ? ep_zlib_uncompress()(out, &len, z, (uLong)stored) == Z_OK && len == chunk_bytes
                                          : stored == chunk_bytes;
        if (!good)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset '%s': damaged chunk (does not hold %llu bytes of data)", path, name,
                           (unsigned long long)chunk_bytes);
    }
    free(z);
    free(out);
    return rc;
}

/* Opens dataset name: *ds = -1 and MVLA_OK when absent and optional. Fills type, rank and dims.
 * On failure nothing stays open. */
static int open_dataset(hid_t file, const char *path, const char *name, int required, hid_t *ds, hid_t *type,
                        int *rank, hsize_t dims[8])
{
    int rc = open_dataset_raw(file, path, name, required, ds, type, rank, dims);
    if (rc == MVLA_OK && *ds >= 0 && strcmp(name, "images") != 0)
        rc = validate_chunks(*ds, *type, *rank, dims, path, name);
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
    if (ds < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot reopen: %s", path, ep_h5_reason(why));
    H5Dclose(r->images);
    r->images = ds;
    return MVLA_OK;
}

/* Decides whether frames can be read chunk by chunk (see struct EpisodeReader). */
static void setup_direct(EpisodeReader *r, const hsize_t dims[4])
{
    hid_t dcpl = H5Dget_create_plist(r->images);
    if (dcpl < 0) return;
    hsize_t *c = r->chunk;
    int ok = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, c) == 4 && c[0] >= 1 && c[1] >= 1 &&
             c[2] >= 1 && c[3] >= 1 && c[1] <= MAX_SIDE && c[2] <= MAX_SIDE && c[3] <= 3 && dims[0] > 0;
    int nf = ok ? H5Pget_nfilters(dcpl) : -1;
    if (nf == 1) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        r->deflate = H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE;
        ok = r->deflate && ep_zlib_uncompress() != NULL;
    } else {
        ok = ok && nf == 0;
    }
    H5Pclose(dcpl);
    if (!ok) return;
    r->chunk_bytes = (size_t)(c[0] * c[1] * c[2] * c[3]);
    size_t slab_bytes = (size_t)c[0] * (size_t)(dims[1] * dims[2] * 3);
    if (c[0] > 256 || r->chunk_bytes > ((size_t)1 << 26) || slab_bytes > ((size_t)1 << 28)) return;
    r->direct = 1;
    r->slab = -1;
}

/* Copies the part of a decoded chunk at (o1, o2, o3) that lies inside the frames into the slab. */
static void scatter_chunk(EpisodeReader *r, const uint8_t *chunk, int nframes, hsize_t o1, hsize_t o2, hsize_t o3)
{
    const hsize_t *c = r->chunk;
    int H = r->info.height, W = r->info.width;
    size_t ny = (size_t)(c[1] < H - o1 ? c[1] : H - o1), nx = (size_t)(c[2] < W - o2 ? c[2] : W - o2);
    size_t nc = (size_t)(c[3] < 3 - o3 ? c[3] : 3 - o3);
    for (int f = 0; f < nframes; f++)
        for (size_t y = 0; y < ny; y++) {
            const uint8_t *src = chunk + (((size_t)f * c[1] + y) * c[2]) * c[3];
            uint8_t *dst = r->slab_buf + (((size_t)f * H + o1 + y) * W + o2) * 3 + o3;
            if (c[3] == 3) {
                memcpy(dst, src, nx * 3);
            } else {
                for (size_t x = 0; x < nx; x++)
                    for (size_t ch = 0; ch < nc; ch++) dst[x * 3 + ch] = src[x * c[3] + ch];
            }
        }
}

/* Decodes the run of chunk[0] frames holding frame t into slab_buf. Returns 0; -1 when the direct
 * path does not apply (a chunk never written: the caller reads the frame through H5Dread, which
 * gives fill values); -2 for a damaged chunk (a stream that does not inflate to exactly one chunk:
 * libhdf5 1.10 would over-read its own buffer on it, so it is an error here). */
static int read_slab(EpisodeReader *r, int t)
{
    const hsize_t *c = r->chunk;
    int slab = t / (int)c[0], f0 = slab * (int)c[0];
    int nframes = r->info.num_frames - f0 < (int)c[0] ? r->info.num_frames - f0 : (int)c[0];
    if (!r->slab_buf) {
        r->slab_buf = malloc((size_t)c[0] * r->info.height * r->info.width * 3);
        r->cbuf = malloc(r->chunk_bytes);
        if (!r->slab_buf || !r->cbuf) return -1;
    }
    r->slab = -1;
    for (hsize_t o1 = 0; o1 < (hsize_t)r->info.height; o1 += c[1])
        for (hsize_t o2 = 0; o2 < (hsize_t)r->info.width; o2 += c[2])
            for (hsize_t o3 = 0; o3 < 3; o3 += c[3]) {
                hsize_t off[4] = {(hsize_t)f0, o1, o2, o3}, stored = 0;
                uint32_t mask = 0;
                int bad = 0;
                episode_h5_lock();
                if (H5Dget_chunk_storage_size(r->images, off, &stored) < 0 || stored == 0 ||
                    stored > r->chunk_bytes + r->chunk_bytes / 8 + 4096) {
                    bad = 1;
                } else if (stored > r->zcap) {
                    uint8_t *bigger = realloc(r->zbuf, (size_t)stored);
                    if (bigger) r->zbuf = bigger, r->zcap = (size_t)stored;
                    else bad = 1;
                }
                if (!bad && H5Dread_chunk(r->images, H5P_DEFAULT, off, &mask, r->zbuf) < 0) bad = 1;
                if (bad) H5Eclear2(H5E_DEFAULT);
                episode_h5_unlock();
                if (bad) return -1;
                const uint8_t *chunk = r->zbuf;
                if (r->deflate && !(mask & 1)) { /* bit 0 set: the optional deflate was skipped */
                    uLongf len = (uLongf)r->chunk_bytes;
                    if (ep_zlib_uncompress()(r->cbuf, &len, r->zbuf, (uLong)stored) != Z_OK || len != r->chunk_bytes)
                        return -2;
                    chunk = r->cbuf;
                } else if (stored != r->chunk_bytes) {
                    return -2;
                }
                scatter_chunk(r, chunk, nframes, o1, o2, o3);
            }
    r->slab = slab;
    return 0;
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
    setup_direct(r, dims);
    r->info.num_frames = (int)dims[0];
    r->info.height = (int)dims[1];
    r->info.width = (int)dims[2];
    /* The memory space has the frame's own 4-d shape: HDF5 then moves whole runs instead of
     * iterating a reshaped selection byte by byte (several times faster on h5py's chunking). */
    hsize_t frame[4] = {1, dims[1], dims[2], 3};
    r->fspace = H5Dget_space(r->images);
    r->mspace = H5Screate_simple(4, frame, NULL);
    if (r->fspace < 0 || r->mspace < 0)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot select frames: %s", path, ep_h5_reason(why));
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
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'actions': cannot read: %s", path, ep_h5_reason(why));
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
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': unreadable: %s", path, ep_h5_reason(why));
        } else if (H5Tis_variable_str(type) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            char *s = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(type));
            if (H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, &s) < 0)
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': cannot read: %s", path, ep_h5_reason(why));
            else if (!(r->info.instruction = ep_dup_str(s ? s : "")))
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
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'language_instruction': cannot read: %s", path, ep_h5_reason(why));
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
    return !src || (*dst = ep_dup_str(src)) ? 0 : -1;
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
    free(r->slab_buf);
    free(r->zbuf);
    free(r->cbuf);
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
            return mvla_fail(MVLA_ERR_FORMAT, "%s: damaged HDF5 file (truncated?): %s", path, ep_h5_reason(why));
        return mvla_fail(MVLA_ERR_FORMAT, "%s: not an HDF5 file%s", path, got == 0 ? " (empty)" : "");
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) return mvla_fail(MVLA_ERR_FORMAT, "%s: cannot open as HDF5 (truncated?): %s", path, ep_h5_reason(why));
    int rc;
    if ((rc = open_images(r, path)) || (rc = read_actions(r, path)) || (rc = read_events(r, path)) ||
        (rc = read_instruction(r, path)) || (rc = read_attributes(r, path)))
        return rc;
    if (!r->info.episode_name) {
        char stem[256];
        ep_file_stem(path, stem, sizeof stem);
        if (!(r->info.episode_name = ep_dup_str(stem))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
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
    if (!(r->info.path = ep_dup_str(path))) {
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
    size_t fb = (size_t)in->height * in->width * 3;
    if (r->direct) {
        int got = r->slab == t / (int)r->chunk[0] ? 0 : read_slab(r, t);
        if (got == 0) {
            memcpy(dst, r->slab_buf + (size_t)(t % (int)r->chunk[0]) * fb, fb);
            return MVLA_OK;
        }
        if (got == -2)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': frame %d: damaged chunk (does not inflate to %zu bytes)",
                             in->path, t, r->chunk_bytes);
    }
    hsize_t start[4] = {(hsize_t)t, 0, 0, 0}, count[4] = {1, (hsize_t)in->height, (hsize_t)in->width, 3};
    char why[160];
    int rc = MVLA_OK;
    episode_h5_lock();
    if (H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(r->images, H5T_NATIVE_UINT8, r->mspace, r->fspace, H5P_DEFAULT, dst) < 0)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': cannot read frame %d: %s", in->path, t, ep_h5_reason(why));
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
