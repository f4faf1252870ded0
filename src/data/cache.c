/* The frame cache: building (decode under the HDF5 lock, resize in parallel, write at fixed offsets),
 * opening (mmap + header validation) and the rebuild-if-stale check. Layout in cache.h. */
#include "data/cache.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hash.h"
#include "data/dataset.h"
#include "io/episode.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC "MVLAFC01"
#define CACHE_FORMAT "mvla-frame-cache"
#define CACHE_VERSION 1
#define CACHE_ALIGN 4096

/* The instruction settings as the header records them. */
typedef struct {
    char lang[8];
    char mapping[HASH_TEXT_MAX]; /* content hash of the mapping file, "" for none */
    char *override;              /* "" for none */
} InstrSettings;

struct FrameCache {
    char *path;
    InstrSettings instr;
    MappedFile map;
    Preprocess pre;
    CacheEpisode *eps;
    int n;
    long total_frames;
    size_t frame_bytes;
    const uint8_t *frames;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

static void free_episode(CacheEpisode *e)
{
    free(e->file);
    free(e->hash);
    free(e->episode_name);
    free(e->actions);
    if (e->events)
        for (int t = 0; t < e->num_frames; t++) free(e->events[t]);
    free(e->events);
    free(e->instruction);
    memset(e, 0, sizeof *e);
}

static void free_episodes(CacheEpisode *eps, int n)
{
    if (!eps) return;
    for (int i = 0; i < n; i++) free_episode(&eps[i]);
    free(eps);
}

static char *join_path(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

_Static_assert(CACHE_HASH_MAX >= HASH_TEXT_MAX, "a cache hash string holds a hash_file text");

int cache_hash_file(const char *path, char *out) { return hash_file(path, out); }

static size_t align_up(size_t v) { return (v + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN; }

/* The settings opt asks for (the mapping file is hashed). */
static int instr_settings(const CacheOptions *opt, InstrSettings *st)
{
    memset(st, 0, sizeof *st);
    const char *lang = opt && opt->lang ? opt->lang : "en";
    if (strcmp(lang, "en") != 0 && strcmp(lang, "ko") != 0)
        return mvla_fail(MVLA_ERR_ARG, "frame cache: instruction language '%s': expected en or ko", lang);
    strcpy(st->lang, lang);
    if (opt && opt->mapping_path) {
        int rc = hash_file(opt->mapping_path, st->mapping);
        if (rc) return rc;
    }
    st->override = dup_str(opt && opt->instruction ? opt->instruction : "");
    return st->override ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
}

/* ---- sources: sorted, hashed ---- */

typedef struct {
    const char *file;
    char hash[CACHE_HASH_MAX];
} Source;

static int by_file(const void *a, const void *b) { return strcmp(((const Source *)a)->file, ((const Source *)b)->file); }

/* Sorted copies of src with every hash filled in (computed in parallel where missing). */
static int prepare_sources(const char *dir, const CacheSource *src, int n, Source **out)
{
    *out = NULL;
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "frame cache: no episodes to cache");
    Source *s = calloc((size_t)n, sizeof *s);
    if (!s) return mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
    for (int i = 0; i < n; i++) {
        if (!src[i].file || !src[i].file[0] || strchr(src[i].file, '/')) {
            free(s);
            return mvla_fail(MVLA_ERR_ARG, "frame cache: source %d: file '%s': expected a file name inside %s", i,
                             src[i].file ? src[i].file : "", dir);
        }
        s[i].file = src[i].file;
        if (src[i].hash) {
            if (strlen(src[i].hash) >= CACHE_HASH_MAX) {
                free(s);
                return mvla_fail(MVLA_ERR_ARG, "frame cache: %s: hash is too long", src[i].file);
            }
            strcpy(s[i].hash, src[i].hash);
        }
    }
    qsort(s, (size_t)n, sizeof *s, by_file);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i].file, s[i - 1].file) == 0) {
            int rc = mvla_fail(MVLA_ERR_ARG, "frame cache: episode %s is listed twice", s[i].file);
            free(s);
            return rc;
        }
    int failed = 0;
    char *err = NULL;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        if (__atomic_load_n(&failed, __ATOMIC_RELAXED) || s[i].hash[0]) continue;
        char *path = join_path(dir, s[i].file);
        int rc = path ? cache_hash_file(path, s[i].hash) : mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
        free(path);
        if (rc) {
#pragma omp critical(cache_err)
            if (!failed) {
                err = dup_str(mvla_error_message());
                __atomic_store_n(&failed, rc, __ATOMIC_RELAXED);
            }
        }
    }
    if (failed) {
        mvla_fail(failed, "%s", err ? err : "frame cache: hashing failed");
        free(err);
        free(s);
        return failed;
    }
    *out = s;
    return MVLA_OK;
}

/* ---- header ---- */

/* A JSON string of s; text that is not valid UTF-8 (e.g. a fixed-length string cut inside a character)
 * gets its non-ASCII bytes replaced by '?', so one odd file cannot make the cache unwritable. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    char *d = dup_str(s);
    if (!d) return NULL;
    for (char *c = d; *c; c++)
        if ((unsigned char)*c >= 0x80) *c = '?';
    j = json_string(d);
    free(d);
    return j;
}

static json_t *preprocess_json(const Preprocess *p)
{
    json_t *j = json_object();
    json_object_set_new(j, "width", json_integer(p->width));
    json_object_set_new(j, "height", json_integer(p->height));
    json_object_set_new(j, "crop", json_string(crop_name(p->crop)));
    json_object_set_new(j, "filter", json_string(filter_name(p->filter)));
    json_object_set_new(j, "channels", json_string("RGB"));
    json_object_set_new(j, "dtype", json_string("uint8"));
    json_object_set_new(j, "layout", json_string("HWC"));
    return j;
}

static json_t *episode_json(const CacheEpisode *e)
{
    json_t *j = json_object(), *acts = json_array(), *evs = json_array();
    json_object_set_new(j, "file", text_json(e->file));
    json_object_set_new(j, "hash", json_string(e->hash));
    json_object_set_new(j, "episode_name", text_json(e->episode_name));
    json_object_set_new(j, "frame_offset", json_integer(e->frame_offset));
    json_object_set_new(j, "num_frames", json_integer(e->num_frames));
    json_object_set_new(j, "source_width", json_integer(e->source_width));
    json_object_set_new(j, "source_height", json_integer(e->source_height));
    json_object_set_new(j, "target", text_json(e->target));
    json_object_set_new(j, "scenario", text_json(e->scenario));
    json_object_set_new(j, "side", text_json(e->side));
    json_object_set_new(j, "instruction", text_json(e->instruction));
    for (int t = 0; t < e->num_frames; t++) {
        json_t *a = json_array();
        for (int k = 0; k < 3; k++) json_array_append_new(a, json_real(e->actions[3 * t + k]));
        json_array_append_new(acts, a);
        json_array_append_new(evs, text_json(e->events[t]));
    }
    json_object_set_new(j, "actions", acts);
    json_object_set_new(j, "events", evs);
    return j;
}

/* The header text (malloc'd); NULL on out of memory or text that is not valid UTF-8. */
static char *header_text(const Preprocess *p, const InstrSettings *st, const CacheEpisode *eps, int n, long total)
{
    json_t *root = json_object(), *arr = json_array(), *ins = json_object();
    json_object_set_new(root, "format", json_string(CACHE_FORMAT));
    json_object_set_new(root, "version", json_integer(CACHE_VERSION));
    json_object_set_new(root, "preprocess", preprocess_json(p));
    json_object_set_new(ins, "lang", json_string(st->lang));
    json_object_set_new(ins, "mapping", json_string(st->mapping));
    json_object_set_new(ins, "override", text_json(st->override));
    json_object_set_new(root, "instructions", ins);
    json_object_set_new(root, "frame_bytes", json_integer((json_int_t)p->width * p->height * 3));
    json_object_set_new(root, "total_frames", json_integer(total));
    for (int i = 0; i < n; i++) json_array_append_new(arr, episode_json(&eps[i]));
    json_object_set_new(root, "episodes", arr);
    /* 9 significant digits round-trip every float exactly. */
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    return text;
}

/* ---- building ---- */

/* Reads everything but the frames of one source into e. */
static int read_meta(const char *dir, const Source *s, const InstructionMap *map, const InstrSettings *st,
                     CacheEpisode *e)
{
    char *path = join_path(dir, s->file);
    if (!path) return mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
    EpisodeReader *r = NULL;
    int rc = episode_open(&r, path);
    free(path);
    if (rc) return rc;
    const EpisodeInfo *in = episode_info(r);
    e->file = dup_str(s->file);
    e->hash = dup_str(s->hash);
    e->episode_name = dup_str(in->episode_name);
    e->num_frames = in->num_frames;
    e->source_width = in->width;
    e->source_height = in->height;
    e->actions = malloc(sizeof(float) * 3 * (size_t)(in->num_frames ? in->num_frames : 1));
    e->events = calloc((size_t)(in->num_frames ? in->num_frames : 1), sizeof(char *));
    e->instruction = dup_str(instruction_resolve(in, map, st->lang, st->override[0] ? st->override : NULL, NULL));
    snprintf(e->target, sizeof e->target, "%s", in->name.target);
    snprintf(e->scenario, sizeof e->scenario, "%s", in->name.scenario);
    snprintf(e->side, sizeof e->side, "%s", in->name.side);
    int ok = e->file && e->hash && e->episode_name && e->actions && e->events && e->instruction;
    for (int t = 0; ok && t < in->num_frames; t++) {
        memcpy(e->actions + 3 * t, in->actions + 3 * t, 3 * sizeof(float));
        ok = (e->events[t] = dup_str(in->events ? in->events[t] : "")) != NULL;
    }
    if (ok && in->num_frames < 1) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: dataset 'images': no frames", in->path);
    episode_close(r);
    if (!ok) return mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
    return rc;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w, off += w;
    }
    return 0;
}

/* Decodes, preprocesses and writes one episode's frames at their fixed offsets. */
static int write_episode(int fd, size_t data_off, const char *dir, const CacheEpisode *e, const Preprocess *p,
                         PreprocessPlan *plan, uint8_t *bgr, uint8_t *rgb)
{
    size_t fb = (size_t)p->width * p->height * 3;
    char *path = join_path(dir, e->file);
    if (!path) return mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
    EpisodeReader *r = NULL;
    int rc = episode_open(&r, path);
    if (!rc && (episode_info(r)->num_frames != e->num_frames || episode_info(r)->width != e->source_width ||
                episode_info(r)->height != e->source_height))
        rc = mvla_fail(MVLA_ERR_IO, "%s: file changed while the cache was being built", path);
    for (int t = 0; !rc && t < e->num_frames; t++) {
        rc = episode_read_frame(r, t, bgr);
        if (!rc) rc = preprocess_run(plan, p, bgr, e->source_width, e->source_height, PREPROCESS_BGR, rgb);
        if (!rc && pwrite_all(fd, rgb, fb, (off_t)(data_off + (size_t)(e->frame_offset + t) * fb)))
            rc = mvla_fail(MVLA_ERR_IO, "frame cache: write failed: %s", strerror(errno));
    }
    episode_close(r);
    free(path);
    return rc;
}

/* Every episode, in parallel (OpenMP): each thread opens its own reader (a reader is not shared
 * between threads), HDF5 calls serialise on the global lock inside src/io/episode.c, and the rest
 * (decompression where the reader does it outside the lock, resizing, writing) overlaps. Frames go to
 * fixed offsets, so the file does not depend on the thread count or timing. */
static int write_frames(int fd, size_t data_off, const char *dir, const CacheEpisode *eps, int n, const Preprocess *p,
                        const CacheOptions *opt)
{
    size_t fb = (size_t)p->width * p->height * 3, max_src = 0;
    for (int i = 0; i < n; i++) {
        size_t b = (size_t)eps[i].source_width * eps[i].source_height * 3;
        if (b > max_src) max_src = b;
    }
    int failed = 0, first_bad = n;
    long done = 0;
    char *err = NULL;
#pragma omp parallel
    {
        uint8_t *bgr = malloc(max_src), *rgb = malloc(fb);
        PreprocessPlan plan = {0}; /* this thread's resize tables */
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            if (__atomic_load_n(&failed, __ATOMIC_RELAXED)) continue;
            int rc = bgr && rgb ? write_episode(fd, data_off, dir, &eps[i], p, &plan, bgr, rgb)
                                : mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory for frame buffers");
#pragma omp critical(cache_err)
            {
                if (rc && i < first_bad) { /* report the first failing episode in order */
                    first_bad = i;
                    free(err);
                    err = dup_str(mvla_error_message());
                    __atomic_store_n(&failed, rc, __ATOMIC_RELAXED);
                }
                if (!rc && !failed && opt && opt->progress) opt->progress(opt->progress_ctx, ++done, n);
            }
        }
        free(bgr);
        free(rgb);
        preprocess_plan_free(&plan);
    }
    if (failed) {
        mvla_fail(failed, "%s", err ? err : "frame cache: build failed");
        free(err);
    }
    return failed;
}

static int build_sorted(const char *cache_path, const char *dir, const Source *s, int n, const Preprocess *p,
                        const InstrSettings *st, const CacheOptions *opt)
{
    CacheEpisode *eps = calloc((size_t)n, sizeof *eps);
    if (!eps) return mvla_fail(MVLA_ERR_NOMEM, "frame cache: out of memory");
    long total = 0;
    InstructionMap *map = NULL;
    int rc = opt && opt->mapping_path ? instruction_map_load(&map, opt->mapping_path) : MVLA_OK;
    for (int i = 0; i < n && !rc; i++) {
        rc = read_meta(dir, &s[i], map, st, &eps[i]);
        eps[i].frame_offset = total;
        total += eps[i].num_frames;
    }
    instruction_map_free(map);
    char *text = rc ? NULL : header_text(p, st, eps, n, total);
    if (!rc && !text) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: cannot encode the header (out of memory or invalid UTF-8 text)", cache_path);
    AtomicFile f = {0};
    if (!rc) rc = atomic_open(&f, cache_path);
    if (!rc) {
        size_t hlen = strlen(text), data_off = align_up(16 + hlen);
        size_t fb = (size_t)p->width * p->height * 3;
        unsigned char len8[8];
        for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
        int fd = fileno(f.fp);
        int ok = fwrite(CACHE_MAGIC, 1, 8, f.fp) == 8 && fwrite(len8, 1, 8, f.fp) == 8 &&
                 fwrite(text, 1, hlen, f.fp) == hlen && fflush(f.fp) == 0 &&
                 ftruncate(fd, (off_t)(data_off + (size_t)total * fb)) == 0; /* zero padding + room for the frames */
        if (!ok) rc = mvla_fail(MVLA_ERR_IO, "%s: write failed: %s", cache_path, strerror(errno));
        if (!rc) rc = write_frames(fd, data_off, dir, eps, n, p, opt);
        if (!rc) rc = atomic_commit(&f);
        else atomic_abort(&f);
    }
    free(text);
    free_episodes(eps, n);
    return rc;
}

/* What building or matching a cache needs: checked preprocessing, the instruction settings and the sorted
 * sources. On success the caller frees *s and st->override; on failure nothing is left to free. */
static int prepare_build(const char *dir, const CacheSource *src, int n, const Preprocess *p, const CacheOptions *opt,
                         InstrSettings *st, Source **s)
{
    *s = NULL;
    int rc = preprocess_validate(p);
    if (!rc) rc = instr_settings(opt, st);
    if (rc) return rc;
    if ((rc = prepare_sources(dir, src, n, s))) free(st->override);
    return rc;
}

int cache_build(const char *cache_path, const char *dir, const CacheSource *src, int n, const Preprocess *p,
                const CacheOptions *opt)
{
    InstrSettings st;
    Source *s;
    int rc = prepare_build(dir, src, n, p, opt, &st, &s);
    if (rc) return rc;
    rc = build_sorted(cache_path, dir, s, n, p, &st, opt);
    free(s);
    free(st.override);
    return rc;
}

/* ---- opening ---- */

static int bad(const char *path, const char *field, const char *what)
{
    return mvla_fail(MVLA_ERR_FORMAT, "%s: header: %s: expected %s", path, field, what);
}

static int get_int(const char *path, json_t *obj, const char *key, const char *ctx, long lo, long hi, long *out)
{
    json_t *v = json_object_get(obj, key);
    char field[96];
    snprintf(field, sizeof field, "%s%s", ctx, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char what[80];
        snprintf(what, sizeof what, "an integer in %ld..%ld", lo, hi);
        return bad(path, field, what);
    }
    *out = (long)json_integer_value(v);
    return MVLA_OK;
}

static int get_str(const char *path, json_t *obj, const char *key, const char *ctx, const char **out)
{
    json_t *v = json_object_get(obj, key);
    char field[96];
    snprintf(field, sizeof field, "%s%s", ctx, key);
    if (!json_is_string(v)) return bad(path, field, "a string");
    *out = json_string_value(v);
    return MVLA_OK;
}

static int parse_preprocess(const char *path, json_t *j, Preprocess *p)
{
    if (!json_is_object(j)) return bad(path, "preprocess", "an object");
    long w, h;
    const char *crop = NULL, *filter = NULL, *ch = NULL;
    int rc = get_int(path, j, "width", "preprocess.", 1, PREPROCESS_MAX_SIDE, &w);
    if (!rc) rc = get_int(path, j, "height", "preprocess.", 1, PREPROCESS_MAX_SIDE, &h);
    if (!rc) rc = get_str(path, j, "crop", "preprocess.", &crop);
    if (!rc) rc = get_str(path, j, "filter", "preprocess.", &filter);
    if (!rc) rc = get_str(path, j, "channels", "preprocess.", &ch);
    if (rc) return rc;
    if (crop_parse(crop, &p->crop)) return bad(path, "preprocess.crop", "stretch, center_crop or pad");
    if (filter_parse(filter, &p->filter)) return bad(path, "preprocess.filter", "area or bicubic");
    if (strcmp(ch, "RGB") != 0) return bad(path, "preprocess.channels", "\"RGB\"");
    p->width = (int)w;
    p->height = (int)h;
    return MVLA_OK;
}

static int parse_episode(const char *path, json_t *j, int i, long offset, CacheEpisode *e)
{
    char ctx[48];
    snprintf(ctx, sizeof ctx, "episodes[%d].", i);
    if (!json_is_object(j)) return bad(path, ctx, "an object");
    const char *file = NULL, *hash = NULL, *name = NULL, *instr = NULL, *target = NULL, *scen = NULL, *side = NULL;
    long off, nf, sw, sh;
    int rc = get_str(path, j, "file", ctx, &file);
    if (!rc) rc = get_str(path, j, "hash", ctx, &hash);
    if (!rc) rc = get_str(path, j, "episode_name", ctx, &name);
    if (!rc) rc = get_str(path, j, "instruction", ctx, &instr);
    if (!rc) rc = get_str(path, j, "target", ctx, &target);
    if (!rc) rc = get_str(path, j, "scenario", ctx, &scen);
    if (!rc) rc = get_str(path, j, "side", ctx, &side);
    if (!rc) rc = get_int(path, j, "frame_offset", ctx, offset, offset, &off);
    if (!rc) rc = get_int(path, j, "num_frames", ctx, 1, 1L << 24, &nf);
    if (!rc) rc = get_int(path, j, "source_width", ctx, 1, 1L << 16, &sw);
    if (!rc) rc = get_int(path, j, "source_height", ctx, 1, 1L << 16, &sh);
    if (rc) return rc;
    json_t *acts = json_object_get(j, "actions"), *evs = json_object_get(j, "events");
    char field[96];
    snprintf(field, sizeof field, "%sactions", ctx);
    if (!json_is_array(acts) || (long)json_array_size(acts) != nf) return bad(path, field, "one [x, y, z] per frame");
    snprintf(field, sizeof field, "%sevents", ctx);
    if (!json_is_array(evs) || (long)json_array_size(evs) != nf) return bad(path, field, "one string per frame");
    e->file = dup_str(file);
    e->hash = dup_str(hash);
    e->episode_name = dup_str(name);
    e->instruction = dup_str(instr);
    e->actions = malloc(sizeof(float) * 3 * (size_t)nf);
    e->events = calloc((size_t)nf, sizeof(char *));
    e->num_frames = (int)nf;
    e->frame_offset = off;
    e->source_width = (int)sw;
    e->source_height = (int)sh;
    snprintf(e->target, sizeof e->target, "%s", target);
    snprintf(e->scenario, sizeof e->scenario, "%s", scen);
    snprintf(e->side, sizeof e->side, "%s", side);
    if (!e->file || !e->hash || !e->episode_name || !e->instruction || !e->actions || !e->events)
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    for (long t = 0; t < nf; t++) {
        json_t *a = json_array_get(acts, (size_t)t), *ev = json_array_get(evs, (size_t)t);
        snprintf(field, sizeof field, "%sactions[%ld]", ctx, t);
        if (!json_is_array(a) || json_array_size(a) != 3) return bad(path, field, "[x, y, z]");
        for (int k = 0; k < 3; k++) {
            json_t *v = json_array_get(a, (size_t)k);
            if (!json_is_number(v)) return bad(path, field, "three numbers");
            e->actions[3 * t + k] = (float)json_number_value(v);
        }
        snprintf(field, sizeof field, "%sevents[%ld]", ctx, t);
        if (!json_is_string(ev)) return bad(path, field, "a string");
        if (!(e->events[t] = dup_str(json_string_value(ev)))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    return MVLA_OK;
}

static int parse_header(FrameCache *c)
{
    const char *path = c->path;
    const unsigned char *d = c->map.data;
    size_t size = c->map.size;
    if (size < 16 || memcmp(d, CACHE_MAGIC, 8) != 0)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: not a frame cache (expected the magic \"%s\")", path, CACHE_MAGIC);
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)d[8 + k] << (8 * k);
    if (hlen > size - 16) return mvla_fail(MVLA_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                                           path, (unsigned long long)hlen, size);
    json_error_t je;
    json_t *root = json_loadb((const char *)d + 16, (size_t)hlen, 0, &je);
    if (!root) return mvla_fail(MVLA_ERR_FORMAT, "%s: header: invalid JSON: %s", path, je.text);
    int rc = MVLA_OK;
    const char *fmt = NULL;
    long version, fb, total;
    json_t *eps = json_object_get(root, "episodes");
    if (!json_is_object(root)) rc = bad(path, "(root)", "an object");
    if (!rc) rc = get_str(path, root, "format", "", &fmt);
    if (!rc && strcmp(fmt, CACHE_FORMAT) != 0) rc = bad(path, "format", "\"" CACHE_FORMAT "\"");
    if (!rc) rc = get_int(path, root, "version", "", CACHE_VERSION, CACHE_VERSION, &version);
    if (!rc) rc = parse_preprocess(path, json_object_get(root, "preprocess"), &c->pre);
    json_t *ins = json_object_get(root, "instructions");
    const char *lang = NULL, *mapping = NULL, *override = NULL;
    if (!rc && !json_is_object(ins)) rc = bad(path, "instructions", "an object");
    if (!rc) rc = get_str(path, ins, "lang", "instructions.", &lang);
    if (!rc) rc = get_str(path, ins, "mapping", "instructions.", &mapping);
    if (!rc) rc = get_str(path, ins, "override", "instructions.", &override);
    if (!rc && (strlen(lang) >= sizeof c->instr.lang || strlen(mapping) >= sizeof c->instr.mapping))
        rc = bad(path, "instructions", "a language code and a content hash");
    if (!rc) {
        strcpy(c->instr.lang, lang);
        strcpy(c->instr.mapping, mapping);
        if (!(c->instr.override = dup_str(override))) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!rc) rc = get_int(path, root, "frame_bytes", "", (long)c->pre.width * c->pre.height * 3,
                          (long)c->pre.width * c->pre.height * 3, &fb);
    if (!rc) rc = get_int(path, root, "total_frames", "", 0, 1L << 40, &total);
    if (!rc && (!json_is_array(eps) || json_array_size(eps) == 0)) rc = bad(path, "episodes", "a non-empty array");
    if (!rc) {
        c->n = (int)json_array_size(eps);
        c->eps = calloc((size_t)c->n, sizeof *c->eps);
        if (!c->eps) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    long offset = 0;
    for (int i = 0; !rc && i < c->n; i++) {
        rc = parse_episode(path, json_array_get(eps, (size_t)i), i, offset, &c->eps[i]);
        offset += c->eps[i].num_frames;
        if (!rc && i > 0 && strcmp(c->eps[i - 1].file, c->eps[i].file) >= 0)
            rc = bad(path, "episodes", "entries sorted by file name, each file once");
    }
    if (!rc && offset != total) rc = bad(path, "total_frames", "the sum of the episodes' num_frames");
    size_t data_off = align_up(16 + (size_t)hlen);
    if (!rc && size != data_off + (size_t)total * (size_t)fb)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: file is %zu bytes, expected %zu for %ld frames of %ld bytes (truncated?)", path,
                       size, data_off + (size_t)total * (size_t)fb, total, fb);
    json_decref(root);
    if (rc) return rc;
    c->total_frames = total;
    c->frame_bytes = (size_t)fb;
    c->frames = d + data_off;
    return MVLA_OK;
}

int cache_open(FrameCache **out, const char *cache_path)
{
    *out = NULL;
    FrameCache *c = calloc(1, sizeof *c);
    if (!c || !(c->path = dup_str(cache_path))) {
        free(c);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", cache_path);
    }
    int rc = file_map(&c->map, cache_path);
    if (!rc) rc = parse_header(c);
    if (rc) {
        cache_close(c);
        return rc;
    }
    *out = c;
    return MVLA_OK;
}

void cache_close(FrameCache *c)
{
    if (!c) return;
    free_episodes(c->eps, c->n);
    free(c->instr.override);
    file_unmap(&c->map);
    free(c->path);
    free(c);
}

/* Does the open cache hold exactly these sorted sources, made with p? */
static int cache_matches(const FrameCache *c, const Source *s, int n, const Preprocess *p, const InstrSettings *st)
{
    if (strcmp(c->instr.lang, st->lang) != 0 || strcmp(c->instr.mapping, st->mapping) != 0 ||
        strcmp(c->instr.override, st->override) != 0)
        return 0;
    if (c->pre.width != p->width || c->pre.height != p->height || c->pre.crop != p->crop || c->pre.filter != p->filter)
        return 0;
    if (c->n != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(c->eps[i].file, s[i].file) != 0 || strcmp(c->eps[i].hash, s[i].hash) != 0) return 0;
    return 1;
}

int cache_open_or_build(FrameCache **out, const char *cache_path, const char *dir, const CacheSource *src, int n,
                        const Preprocess *p, const CacheOptions *opt, int *rebuilt)
{
    *out = NULL;
    if (rebuilt) *rebuilt = 0;
    InstrSettings st;
    Source *s;
    int rc = prepare_build(dir, src, n, p, opt, &st, &s);
    if (rc) return rc;
    FrameCache *c = NULL;
    if (cache_open(&c, cache_path) == MVLA_OK && cache_matches(c, s, n, p, &st)) {
        free(s);
        free(st.override);
        mvla_error_clear();
        *out = c;
        return MVLA_OK;
    }
    cache_close(c);
    mvla_error_clear();
    rc = build_sorted(cache_path, dir, s, n, p, &st, opt);
    free(s);
    free(st.override);
    if (!rc) rc = cache_open(out, cache_path);
    if (!rc && rebuilt) *rebuilt = 1;
    return rc;
}

/* ---- accessors ---- */

const char *cache_path(const FrameCache *c) { return c->path; }
const Preprocess *cache_preprocess(const FrameCache *c) { return &c->pre; }
int cache_num_episodes(const FrameCache *c) { return c->n; }
const CacheEpisode *cache_episode(const FrameCache *c, int i) { return i >= 0 && i < c->n ? &c->eps[i] : NULL; }
long cache_total_frames(const FrameCache *c) { return c->total_frames; }
size_t cache_frame_bytes(const FrameCache *c) { return c->frame_bytes; }

int cache_find(const FrameCache *c, const char *file)
{
    int lo = 0, hi = c->n - 1; /* episodes are sorted by file name */
    while (lo <= hi) {
        int mid = (lo + hi) / 2, cmp = strcmp(c->eps[mid].file, file);
        if (cmp == 0) return mid;
        if (cmp < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

const uint8_t *cache_frame(const FrameCache *c, int i, int t)
{
    if (i < 0 || i >= c->n || t < 0 || t >= c->eps[i].num_frames) return NULL;
    return c->frames + (size_t)(c->eps[i].frame_offset + t) * c->frame_bytes;
}
