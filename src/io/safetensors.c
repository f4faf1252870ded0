/* safetensors reader and writer. See safetensors.h for the format.
 *
 * Reader: every file is memory-mapped and its header parsed with jansson; each entry is checked
 * (dtype, shape, offsets inside the data, byte size, no overlaps) before any tensor is handed out.
 * A sharded checkpoint (index.json) is a list of such files whose tensors are merged; st_find
 * uses an index of tensor names sorted once at open. */
#include "io/safetensors.h"

#include "base/error.h"
#include "base/file.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* a header above 100 MB is not a real checkpoint */

static const struct {
    const char *name;
    int size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I8] = {"I8", 1},   [ST_U8] = {"U8", 1},   [ST_I16] = {"I16", 2},   [ST_I32] = {"I32", 4},
    [ST_I64] = {"I64", 8}, [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].name : "?"; }

int st_dtype_size(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].size : 0; }

int st_dtype_from_name(const char *name)
{
    for (int i = 0; name && i < ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) return i;
    return -1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* "[2, 3]" into buf (truncated if it does not fit). */
static const char *shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                     */

typedef struct {
    char *path;
    MappedFile map; /* empty when parsed from a caller's buffer */
} Shard;

typedef struct {
    StTensor t;
    int64_t begin; /* data_offsets[0], relative to the shard's data section */
    int shard;
} Entry;

struct SafeTensors {
    char *path;
    Shard *shards;
    int n_shards;
    Entry *entries;
    int n, cap;
    int *by_name; /* entry indices sorted by name, for st_find */
    char **meta_key, **meta_val;
    int n_meta, cap_meta;
};

static SafeTensors *st_alloc(const char *path)
{
    SafeTensors *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->path = dup_str(path);
    if (!st->path) {
        free(st);
        return NULL;
    }
    return st;
}

void st_close(SafeTensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n_shards; i++) {
        file_unmap(&st->shards[i].map);
        free(st->shards[i].path);
    }
    for (int i = 0; i < st->n; i++) free((char *)st->entries[i].t.name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_key[i]);
        free(st->meta_val[i]);
    }
    free(st->shards);
    free(st->entries);
    free(st->by_name);
    free(st->meta_key);
    free(st->meta_val);
    free(st->path);
    free(st);
}

static int add_shard(SafeTensors *st, const char *path)
{
    Shard *s = realloc(st->shards, (size_t)(st->n_shards + 1) * sizeof *s);
    if (!s) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    st->shards = s;
    s += st->n_shards;
    memset(s, 0, sizeof *s);
    s->path = dup_str(path);
    if (!s->path) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    st->n_shards++;
    return MVLA_OK;
}

/* Adds a metadata pair; a key already present (from an earlier shard) keeps its first value. */
static int add_meta(SafeTensors *st, const char *key, const char *val, const char *label)
{
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_key[i], key) == 0) return MVLA_OK;
    if (st->n_meta == st->cap_meta) {
        int cap = st->cap_meta ? 2 * st->cap_meta : 8;
        char **k = realloc(st->meta_key, (size_t)cap * sizeof *k);
        if (!k) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
        st->meta_key = k;
        char **v = realloc(st->meta_val, (size_t)cap * sizeof *v);
        if (!v) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
        st->meta_val = v;
        st->cap_meta = cap;
    }
    char *k = dup_str(key), *v = dup_str(val);
    if (!k || !v) {
        free(k);
        free(v);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    }
    st->meta_key[st->n_meta] = k;
    st->meta_val[st->n_meta] = v;
    st->n_meta++;
    return MVLA_OK;
}

static int parse_metadata(SafeTensors *st, const json_t *meta, const char *label)
{
    if (!json_is_object(meta))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: __metadata__ is not an object (expected {\"key\": \"string\", ...})",
                         label);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: __metadata__ '%s': value is not a string (metadata values must be strings)",
                             label, key);
        int rc = add_meta(st, key, json_string_value(val), label);
        if (rc) return rc;
    }
    return MVLA_OK;
}

/* Reads a JSON integer >= 0 into *v; 0 if it is not one. */
static int get_count(const json_t *j, int64_t *v)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0) return 0;
    *v = (int64_t)json_integer_value(j);
    return 1;
}

/* Checks one header entry and fills e (name not set). */
static int parse_entry(const char *label, const char *name, const json_t *obj, const unsigned char *base,
                       uint64_t data_size, Entry *e)
{
    char sbuf[160];
    if (!json_is_object(obj))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': expected an object with \"dtype\", \"shape\" and \"data_offsets\"",
                         label, name);
    const json_t *jd = json_object_get(obj, "dtype");
    if (!json_is_string(jd))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': \"dtype\" missing or not a string (expected e.g. \"F32\")",
                         label, name);
    int dt = st_dtype_from_name(json_string_value(jd));
    if (dt < 0)
        return mvla_fail(MVLA_ERR_UNSUPPORTED,
                         "%s: tensor '%s': unknown dtype \"%s\" (expected F32, F16, BF16, F64, I8, U8, I16, I32, I64 or BOOL)",
                         label, name, json_string_value(jd));
    e->t.dtype = (StDtype)dt;

    const json_t *js = json_object_get(obj, "shape");
    if (!json_is_array(js))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': \"shape\" missing or not an array (expected e.g. [2, 3])",
                         label, name);
    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: tensor '%s': shape has %zu dimensions, at most %d supported", label,
                         name, nd, ST_MAX_DIMS);
    e->t.ndim = (int)nd;
    int has_zero = 0;
    for (size_t i = 0; i < nd; i++) {
        if (!get_count(json_array_get(js, i), &e->t.shape[i]))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", label, name, i);
        if (e->t.shape[i] == 0) has_zero = 1;
    }
    /* numel, with overflow checked; bounded so that numel * 8 fits in int64 */
    int64_t numel = 1;
    for (size_t i = 0; i < nd && !has_zero; i++) {
        if (e->t.shape[i] > (INT64_MAX / 8) / numel)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': shape %s has too many elements", label, name,
                             shape_str(sbuf, sizeof sbuf, e->t.ndim, e->t.shape));
        numel *= e->t.shape[i];
    }
    e->t.numel = has_zero ? 0 : numel;

    const json_t *jo = json_object_get(obj, "data_offsets");
    int64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_count(json_array_get(jo, 0), &begin) ||
        !get_count(json_array_get(jo, 1), &end))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end], two non-negative integers",
                         label, name);
    if (begin > end)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] have begin > end",
                         label, name, begin, end);
    if ((uint64_t)end > data_size)
        return mvla_fail(MVLA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] run past the end of the data (%" PRIu64
                         " bytes): file truncated?",
                         label, name, begin, end, data_size);
    int64_t want = e->t.numel * dtypes[dt].size;
    if (end - begin != want)
        return mvla_fail(MVLA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] hold %" PRId64 " bytes, expected %" PRId64
                         " for %s shape %s (shape/size mismatch)",
                         label, name, begin, end, end - begin, want, dtypes[dt].name,
                         shape_str(sbuf, sizeof sbuf, e->t.ndim, e->t.shape));
    e->t.nbytes = (size_t)want;
    e->t.data = base + begin;
    e->begin = begin;
    return MVLA_OK;
}

typedef struct {
    int64_t begin, end;
    int idx;
} Range;

static int cmp_range(const void *a, const void *b)
{
    const Range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Entries [first, st->n) must have pairwise disjoint byte ranges (empty ranges are ignored). */
static int check_overlaps(SafeTensors *st, int first, const char *label)
{
    int n = st->n - first;
    if (n < 2) return MVLA_OK;
    Range *r = malloc((size_t)n * sizeof *r);
    if (!r) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    int m = 0;
    for (int i = first; i < st->n; i++) {
        const Entry *e = &st->entries[i];
        if (e->t.nbytes == 0) continue;
        r[m++] = (Range){e->begin, e->begin + (int64_t)e->t.nbytes, i};
    }
    qsort(r, (size_t)m, sizeof *r, cmp_range);
    int rc = MVLA_OK;
    for (int i = 1; i < m && !rc; i++)
        if (r[i].begin < r[i - 1].end) { /* sorted by begin: the previous range reaches furthest among the disjoint ones */
            const Entry *a = &st->entries[r[i - 1].idx], *b = &st->entries[r[i].idx];
            rc = mvla_fail(MVLA_ERR_FORMAT,
                           "%s: tensors '%s' [%" PRId64 ", %" PRId64 "] and '%s' [%" PRId64 ", %" PRId64
                           "] overlap (expected disjoint data_offsets)",
                           label, a->t.name, r[i - 1].begin, r[i - 1].end, b->t.name, r[i].begin, r[i].end);
        }
    free(r);
    return rc;
}

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Parses one safetensors image (header + data) as shard number `shard`, appending its tensors. */
static int parse_file(SafeTensors *st, const unsigned char *data, size_t size, const char *label, int shard)
{
    if (size < 8)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: file is %zu bytes, too short for a safetensors header (expected at least 8)",
                         label, size);
    uint64_t hlen = rd_u64(data);
    if (hlen > size - 8)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: header length %" PRIu64 " is larger than the file (%zu bytes): truncated or not safetensors",
                         label, hlen, size);
    if (hlen > ST_MAX_HEADER)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: header length %" PRIu64 " is absurd (more than %" PRIu64 " bytes)", label,
                         hlen, ST_MAX_HEADER);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: header is not valid JSON: %s (line %d, column %d)", label, jerr.text,
                         jerr.line, jerr.column);
    int rc = MVLA_OK;
    if (!json_is_object(root)) {
        json_decref(root);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: header is not a JSON object (expected {\"name\": {...}, ...})", label);
    }
    const unsigned char *base = data + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    int first = st->n;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            rc = parse_metadata(st, val, label);
            if (rc) break;
            continue;
        }
        if (st->n == st->cap) {
            int cap = st->cap ? 2 * st->cap : 16;
            Entry *e = cap > st->cap ? realloc(st->entries, (size_t)cap * sizeof *e) : NULL;
            if (!e) {
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for %d tensors", label, cap);
                break;
            }
            st->entries = e;
            st->cap = cap;
        }
        Entry *e = &st->entries[st->n];
        memset(e, 0, sizeof *e);
        rc = parse_entry(label, key, val, base, data_size, e);
        if (rc) break;
        e->shard = shard;
        e->t.name = dup_str(key);
        if (!e->t.name) {
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
            break;
        }
        st->n++;
    }
    json_decref(root);
    if (!rc) rc = check_overlaps(st, first, label);
    return rc;
}

typedef struct {
    const char *name;
    int idx;
} NameIdx;

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const NameIdx *)a)->name, ((const NameIdx *)b)->name);
}

/* Sorts tensor names for st_find; a name in two shards is an error. */
static int build_index(SafeTensors *st)
{
    st->by_name = malloc((size_t)(st->n ? st->n : 1) * sizeof *st->by_name);
    if (!st->by_name) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", st->path);
    NameIdx *tmp = malloc((size_t)(st->n ? st->n : 1) * sizeof *tmp);
    if (!tmp) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", st->path);
    for (int i = 0; i < st->n; i++) tmp[i] = (NameIdx){st->entries[i].t.name, i};
    qsort(tmp, (size_t)st->n, sizeof *tmp, cmp_by_name);
    for (int i = 0; i < st->n; i++) st->by_name[i] = tmp[i].idx;
    free(tmp);
    for (int i = 1; i < st->n; i++) {
        const Entry *a = &st->entries[st->by_name[i - 1]], *b = &st->entries[st->by_name[i]];
        if (strcmp(a->t.name, b->t.name) == 0)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s' appears twice (in %s and %s)", st->path, a->t.name,
                             st->shards[a->shard].path, st->shards[b->shard].path);
    }
    return MVLA_OK;
}

int st_open_memory(SafeTensors **out, const void *data, size_t size, const char *label)
{
    *out = NULL;
    if (!label) label = "(memory)";
    SafeTensors *st = st_alloc(label);
    if (!st) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    int rc = add_shard(st, label);
    if (!rc) rc = parse_file(st, data, size, label, 0);
    if (!rc) rc = build_index(st);
    if (rc) {
        st_close(st);
        return rc;
    }
    *out = st;
    return MVLA_OK;
}

/* Maps `path` as the next shard of st and parses it. */
static int open_shard(SafeTensors *st, const char *path)
{
    int rc = add_shard(st, path);
    if (rc) return rc;
    Shard *s = &st->shards[st->n_shards - 1];
    rc = file_map(&s->map, path);
    if (rc) return rc;
    return parse_file(st, s->map.data, s->map.size, path, st->n_shards - 1);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir/name into a malloc'd string ("name" alone when dir is empty). */
static char *join_path(const char *dir, size_t dir_len, const char *name)
{
    size_t n = strlen(name);
    char *p = malloc(dir_len + n + 2);
    if (!p) return NULL;
    if (dir_len) {
        memcpy(p, dir, dir_len);
        p[dir_len] = '/';
        memcpy(p + dir_len + 1, name, n + 1);
    } else {
        memcpy(p, name, n + 1);
    }
    return p;
}

/* A sharded checkpoint: {"metadata": {...}, "weight_map": {"tensor": "shard file", ...}}. */
static int open_index(SafeTensors *st, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc = file_read_all(path, &text, &len);
    if (rc) return rc;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: not valid JSON: %s (line %d, column %d)", path, jerr.text, jerr.line,
                         jerr.column);
    const json_t *wm = json_object_get(root, "weight_map");
    const json_t *meta = json_object_get(root, "metadata");
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + (slash == path) : 0;
    char **files = NULL; /* distinct shard files, in order of first appearance */
    int n_files = 0;
    const char *key;
    json_t *val;
    if (!json_is_object(root) || !json_is_object(wm)) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: expected an object with \"weight_map\": {\"tensor\": \"shard file\", ...}", path);
        goto done;
    }
    if (meta && !json_is_object(meta)) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: \"metadata\" is not an object", path);
        goto done;
    }
    json_object_foreach((json_t *)meta, key, val) {
        char *s = json_is_string(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = add_meta(st, key, s ? s : json_is_string(val) ? json_string_value(val) : "", path);
        free(s);
        if (rc) goto done;
    }
    json_object_foreach((json_t *)wm, key, val) {
        const char *f = json_string_value(val);
        if (!f || !*f) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: weight_map '%s': expected a shard file name (a non-empty string)", path, key);
            goto done;
        }
        int k = 0;
        while (k < n_files && strcmp(files[k], f) != 0) k++;
        if (k < n_files) continue;
        char **bigger = realloc(files, (size_t)(n_files + 1) * sizeof *files);
        if (!bigger) {
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        files = bigger;
        files[n_files++] = (char *)f;
    }
    for (int k = 0; k < n_files; k++) {
        char *shard_path = join_path(path, dir_len, files[k]);
        if (!shard_path) {
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        rc = open_shard(st, shard_path);
        free(shard_path);
        if (rc) goto done;
    }
    rc = build_index(st);
    if (rc) goto done;
    json_object_foreach((json_t *)wm, key, val) {
        const StTensor *t = st_find(st, key);
        int k = 0;
        while (strcmp(files[k], json_string_value(val)) != 0) k++;
        if (!t) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s' listed in weight_map is missing from its shard %s", path, key,
                           st->shards[k].path);
            goto done;
        }
        const Entry *e = (const Entry *)t;
        if (e->shard != k) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor '%s' is in %s, but weight_map says %s", path, key,
                           st->shards[e->shard].path, st->shards[k].path);
            goto done;
        }
    }
done:
    free(files);
    json_decref(root);
    return rc;
}

int st_open(SafeTensors **out, const char *path)
{
    *out = NULL;
    if (!path) return mvla_fail(MVLA_ERR_ARG, "st_open: no path");
    struct stat sb;
    if (stat(path, &sb) != 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *file = NULL;
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
        return mvla_fail(MVLA_ERR_IO, "%s: not a regular file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') n--;
        const char *names[2] = {"model.safetensors.index.json", "model.safetensors"};
        for (int i = 0; i < 2 && !file; i++) {
            char *p = join_path(path, n, names[i]);
            if (!p) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
            if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode)) file = p;
            else free(p);
        }
        if (!file)
            return mvla_fail(MVLA_ERR_IO, "%s: directory holds neither model.safetensors nor model.safetensors.index.json",
                             path);
        path = file;
    }
    SafeTensors *st = st_alloc(path);
    int rc = st ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    if (!rc && ends_with(path, ".json")) {
        rc = open_index(st, path);
    } else if (!rc) {
        rc = open_shard(st, path);
        if (!rc) rc = build_index(st);
    }
    free(file);
    if (rc) {
        st_close(st);
        return rc;
    }
    *out = st;
    return MVLA_OK;
}

int st_count(const SafeTensors *st) { return st ? st->n : 0; }

const StTensor *st_at(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->entries[i].t : NULL;
}

const StTensor *st_find(const SafeTensors *st, const char *name)
{
    if (!st || !name || !st->by_name) return NULL;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const Entry *e = &st->entries[st->by_name[mid]];
        int c = strcmp(name, e->t.name);
        if (c == 0) return &e->t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_metadata(const SafeTensors *st, const char *key)
{
    for (int i = 0; st && key && i < st->n_meta; i++)
        if (strcmp(st->meta_key[i], key) == 0) return st->meta_val[i];
    return NULL;
}

int st_metadata_count(const SafeTensors *st) { return st ? st->n_meta : 0; }

const char *st_metadata_key(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n_meta ? st->meta_key[i] : NULL;
}

const char *st_path(const SafeTensors *st) { return st ? st->path : NULL; }

int64_t st_offset_at(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n ? st->entries[i].begin : -1;
}

const char *st_file_at(const SafeTensors *st, int i)
{
    return st && i >= 0 && i < st->n ? st->shards[st->entries[i].shard].path : NULL;
}

/* ---- conversion ---- */

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static float f32_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13)); /* inf, nan */
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign); /* +-0 */
        int shift = 0;                             /* subnormal: normalise the mantissa */
        while (!(mant & 0x400)) {
            mant <<= 1;
            shift++;
        }
        return f32_from_bits(sign | ((uint32_t)(113 - shift) << 23) | ((mant & 0x3ff) << 13));
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

float st_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* double -> float without the undefined behaviour of an out-of-range conversion. */
static float f64_to_f32(double d)
{
    const double limit = 0x1.ffffffp127; /* values at or above this round to infinity */
    if (d >= limit) return INFINITY;
    if (d <= -limit) return -INFINITY;
    return (float)d;
}

int st_to_f32(const StTensor *t, float *dst)
{
    if (!t || (!dst && t->numel)) return mvla_fail(MVLA_ERR_ARG, "st_to_f32: no tensor or no destination");
    const unsigned char *p = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(dst, p, (size_t)n * 4);
        break;
    case ST_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = st_f16_to_f32((uint16_t)rd_le(p + 2 * i, 2));
        break;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = st_bf16_to_f32((uint16_t)rd_le(p + 2 * i, 2));
        break;
    case ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t b = rd_le(p + 8 * i, 8);
            double d;
            memcpy(&d, &b, sizeof d);
            dst[i] = f64_to_f32(d);
        }
        break;
    case ST_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        break;
    case ST_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    case ST_I16:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int16_t)(uint16_t)rd_le(p + 2 * i, 2);
        break;
    case ST_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)(uint32_t)rd_le(p + 4 * i, 4);
        break;
    case ST_I64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int64_t)rd_le(p + 8 * i, 8);
        break;
    case ST_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = p[i] ? 1.0f : 0.0f;
        break;
    default:
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "st_to_f32: tensor '%s': unknown dtype %d", t->name, (int)t->dtype);
    }
    return MVLA_OK;
}

static const StTensor *find_or_fail(const SafeTensors *st, const char *name)
{
    if (!st || !name) {
        mvla_fail(MVLA_ERR_ARG, "safetensors: no file or no tensor name");
        return NULL;
    }
    const StTensor *t = st_find(st, name);
    if (!t) mvla_fail(MVLA_ERR_ARG, "%s: no tensor named '%s' (%d tensors in the file)", st->path, name, st->n);
    return t;
}

int st_check(const SafeTensors *st, const char *name, const Tensor *dst)
{
    const StTensor *t = find_or_fail(st, name);
    if (!t) return MVLA_ERR_ARG;
    if (!dst) return mvla_fail(MVLA_ERR_ARG, "%s: tensor '%s': no destination tensor", st->path, name);
    int same = t->ndim == dst->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == dst->shape[i];
    if (!same) {
        char a[160], b[160];
        int64_t ds[TENSOR_MAX_DIMS];
        int dn = dst->ndim < 0 ? 0 : dst->ndim > TENSOR_MAX_DIMS ? TENSOR_MAX_DIMS : dst->ndim;
        for (int i = 0; i < dn; i++) ds[i] = dst->shape[i];
        return mvla_fail(MVLA_ERR_ARG, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                         shape_str(a, sizeof a, t->ndim, t->shape), shape_str(b, sizeof b, dn, ds));
    }
    return MVLA_OK;
}

int st_load(const SafeTensors *st, const char *name, Tensor *dst)
{
    int rc = st_check(st, name, dst);
    return rc ? rc : st_to_f32(st_find(st, name), dst->data);
}

Tensor *st_load_new(const SafeTensors *st, const char *name)
{
    const StTensor *t = find_or_fail(st, name);
    if (!t) return NULL;
    char sbuf[160];
    if (t->ndim > TENSOR_MAX_DIMS) {
        mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions %s, the engine supports at most %d", st->path,
                  name, t->ndim, shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), TENSOR_MAX_DIMS);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    int64_t product = 1; /* of the non-zero dims: tensor_new refuses more than 2^40 elements */
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] && product > ((int64_t)1 << 40) / t->shape[i]) {
            mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: tensor '%s': shape %s is too large for an engine tensor", st->path, name,
                      shape_str(sbuf, sizeof sbuf, t->ndim, t->shape));
            return NULL;
        }
        if (t->shape[i]) product *= t->shape[i];
        if (t->shape[i] > INT_MAX) {
            mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: tensor '%s': shape %s has a dimension above %d", st->path, name,
                      shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), INT_MAX);
            return NULL;
        }
        shape[i] = (int)t->shape[i];
    }
    Tensor *out = tensor_new(t->ndim, shape);
    if (!out) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mvla_error_message());
        mvla_fail(MVLA_ERR_NOMEM, "%s: tensor '%s': %s", st->path, name, msg);
        return NULL;
    }
    if (st_to_f32(t, out->data)) {
        tensor_free(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                     */

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    void *data;
} WItem;

struct StWriter {
    WItem *items;
    int n, cap;
    char **meta_key, **meta_val;
    int n_meta, cap_meta;
};

StWriter *st_writer_new(void)
{
    StWriter *w = calloc(1, sizeof *w);
    if (!w) mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
    return w;
}

void st_writer_free(StWriter *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->items[i].name);
        free(w->items[i].data);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_key[i]);
        free(w->meta_val[i]);
    }
    free(w->items);
    free(w->meta_key);
    free(w->meta_val);
    free(w);
}

int st_writer_add(StWriter *w, const char *name, StDtype dtype, int ndim, const int64_t *shape, const void *data)
{
    if (!w || !name) return mvla_fail(MVLA_ERR_ARG, "safetensors writer: no writer or no tensor name");
    if (strcmp(name, "__metadata__") == 0)
        return mvla_fail(MVLA_ERR_ARG, "safetensors writer: '__metadata__' is reserved, not a tensor name");
    if ((unsigned)dtype >= ST_DTYPE_COUNT)
        return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': unknown dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
        return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': %d dimensions, expected 0..%d", name, ndim,
                         ST_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': shape[%d] = %" PRId64 ", expected >= 0", name,
                             i, shape[i]);
        if (shape[i] && numel > (INT64_MAX / 8) / shape[i])
            return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': too many elements", name);
        numel *= shape[i];
    }
    size_t nbytes = (size_t)numel * (size_t)dtypes[dtype].size;
    if (nbytes && !data) return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': no data", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s' added twice (names must be unique)", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        WItem *items = realloc(w->items, (size_t)cap * sizeof *items);
        if (!items) return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
        w->items = items;
        w->cap = cap;
    }
    WItem *it = &w->items[w->n];
    memset(it, 0, sizeof *it);
    it->name = dup_str(name);
    it->data = malloc(nbytes ? nbytes : 1);
    if (!it->name || !it->data) {
        free(it->name);
        free(it->data);
        return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: tensor '%s': out of memory for %zu bytes", name, nbytes);
    }
    if (nbytes) memcpy(it->data, data, nbytes);
    it->dtype = dtype;
    it->ndim = ndim;
    for (int i = 0; i < ndim; i++) it->shape[i] = shape[i];
    it->nbytes = nbytes;
    w->n++;
    return MVLA_OK;
}

int st_writer_add_tensor(StWriter *w, const char *name, const Tensor *t)
{
    if (!t) return mvla_fail(MVLA_ERR_ARG, "safetensors writer: tensor '%s': no tensor", name ? name : "?");
    int64_t shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < t->ndim && i < TENSOR_MAX_DIMS; i++) shape[i] = t->shape[i];
    return st_writer_add(w, name, ST_F32, t->ndim, shape, t->data);
}

int st_writer_set_metadata(StWriter *w, const char *key, const char *value)
{
    if (!w || !key || !value) return mvla_fail(MVLA_ERR_ARG, "safetensors writer: no writer, key or value");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_key[i], key) == 0) {
            char *v = dup_str(value);
            if (!v) return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
            free(w->meta_val[i]);
            w->meta_val[i] = v;
            return MVLA_OK;
        }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **k = realloc(w->meta_key, (size_t)cap * sizeof *k);
        if (!k) return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
        w->meta_key = k;
        char **v = realloc(w->meta_val, (size_t)cap * sizeof *v);
        if (!v) return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
        w->meta_val = v;
        w->cap_meta = cap;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return mvla_fail(MVLA_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->meta_key[w->n_meta] = k;
    w->meta_val[w->n_meta] = v;
    w->n_meta++;
    return MVLA_OK;
}

/* The header JSON (compact, insertion order), or NULL with the message set. */
static char *build_header(const StWriter *w, const char *path)
{
    json_t *root = json_object();
    int bad = !root;
    if (!bad && w->n_meta) {
        json_t *meta = json_object();
        bad = json_object_set_new(root, "__metadata__", meta) != 0;
        for (int i = 0; !bad && i < w->n_meta; i++) {
            json_t *v = json_string(w->meta_val[i]);
            if (!v || json_object_set_new(meta, w->meta_key[i], v) != 0) {
                mvla_fail(MVLA_ERR_ARG, "%s: metadata '%s': key or value is not valid UTF-8", path, w->meta_key[i]);
                json_decref(root);
                return NULL;
            }
        }
    }
    uint64_t offset = 0;
    for (int i = 0; !bad && i < w->n; i++) {
        const WItem *it = &w->items[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        bad = !e || !shape || !offs;
        for (int d = 0; !bad && d < it->ndim; d++) bad = json_array_append_new(shape, json_integer(it->shape[d])) != 0;
        if (!bad)
            bad = json_array_append_new(offs, json_integer((json_int_t)offset)) != 0 ||
                  json_array_append_new(offs, json_integer((json_int_t)(offset + it->nbytes))) != 0 ||
                  json_object_set_new(e, "dtype", json_string(dtypes[it->dtype].name)) != 0 ||
                  json_object_set(e, "shape", shape) != 0 || json_object_set(e, "data_offsets", offs) != 0;
        json_decref(shape);
        json_decref(offs);
        if (bad) {
            json_decref(e);
            break;
        }
        if (json_object_set_new(root, it->name, e) != 0) {
            mvla_fail(MVLA_ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, it->name);
            json_decref(root);
            return NULL;
        }
        offset += it->nbytes;
    }
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory building the header", path);
    return s;
}

int st_writer_save(StWriter *w, const char *path)
{
    if (!w || !path) return mvla_fail(MVLA_ERR_ARG, "safetensors writer: no writer or no path");
    char *header = build_header(w, path);
    if (!header) return MVLA_ERR_ARG;
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8; /* 8 + padded keeps the data 8-byte aligned */
    if (padded > ST_MAX_HEADER) {
        free(header);
        return mvla_fail(MVLA_ERR_ARG, "%s: header of %zu bytes exceeds the %" PRIu64 "-byte limit readers accept", path,
                         padded, ST_MAX_HEADER);
    }
    AtomicFile f;
    int rc = atomic_open(&f, path);
    if (rc) {
        free(header);
        return rc;
    }
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len_bytes, 1, 8, f.fp) == 8 && fwrite(header, 1, hlen, f.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f.fp) != EOF;
    for (int i = 0; ok && i < w->n; i++)
        ok = w->items[i].nbytes == 0 || fwrite(w->items[i].data, 1, w->items[i].nbytes, f.fp) == w->items[i].nbytes;
    free(header);
    if (!ok) {
        atomic_abort(&f);
        return mvla_fail(MVLA_ERR_IO, "%s: write failed", path);
    }
    return atomic_commit(&f);
}
