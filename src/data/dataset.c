/* The dataset index: list a folder's episode files, open each for its metadata (under the HDF5
 * lock, one at a time), resolve instructions, and optionally hash file bytes in parallel. */
#include "data/dataset.h"

#include "base/error.h"
#include "base/str_order.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- instruction mapping ---- */

struct InstructionMap {
    json_t *obj;
    char *path;
};

int instruction_map_load(InstructionMap **out, const char *path)
{
    *out = NULL;
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) {
        FILE *fp = fopen(path, "rb");
        if (!fp) return mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        fclose(fp);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: line %d: not valid JSON: %s", path, err.line, err.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object {\"scenario or side\": \"instruction\"}", path);
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!json_is_string(v)) {
            int rc = mvla_fail(MVLA_ERR_FORMAT, "%s: key '%s': expected a string instruction", path, k);
            json_decref(j); /* k lives inside j */
            return rc;
        }
    }
    InstructionMap *m = calloc(1, sizeof *m);
    if (!m || !(m->path = dup_str(path))) {
        free(m);
        json_decref(j);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    m->obj = j;
    *out = m;
    return MVLA_OK;
}

void instruction_map_free(InstructionMap *m)
{
    if (!m) return;
    json_decref(m->obj);
    free(m->path);
    free(m);
}

static const char *map_get(const InstructionMap *m, const char *key)
{
    if (!m || !key || !key[0]) return NULL;
    json_t *v = json_object_get(m->obj, key);
    return v ? json_string_value(v) : NULL;
}

const char *instruction_resolve(const EpisodeInfo *info, const InstructionMap *map, const char *lang,
                                const char *override_text, InstructionSource *source)
{
    InstructionSource src_dummy;
    if (!source) source = &src_dummy;
    if (override_text) {
        *source = INSTRUCTION_OVERRIDE;
        return override_text;
    }
    if (info->instruction && info->instruction[0]) {
        *source = INSTRUCTION_FILE;
        return info->instruction;
    }
    if (map) {
        char stem[256], target_side[48];
        snprintf(stem, sizeof stem, "%s", info->path ? base_name(info->path) : "");
        char *dot = strrchr(stem, '.');
        if (dot && (strcmp(dot, ".h5") == 0 || strcmp(dot, ".hdf5") == 0)) *dot = '\0';
        snprintf(target_side, sizeof target_side, "%s_%s", info->name.target, info->name.side);
        const char *keys[] = {stem, info->name.target[0] && info->name.side[0] ? target_side : "", info->name.scenario,
                              info->name.side, "default"};
        for (int i = 0; i < 5; i++) {
            const char *v = map_get(map, keys[i]);
            if (v) {
                *source = INSTRUCTION_MAPPING;
                return v;
            }
        }
    }
    *source = INSTRUCTION_DEFAULT;
    return episode_default_instruction_for(info->name.target, info->name.side, lang);
}

const char *instruction_source_name(InstructionSource s)
{
    switch (s) {
    case INSTRUCTION_OVERRIDE: return "override";
    case INSTRUCTION_FILE: return "file";
    case INSTRUCTION_MAPPING: return "mapping";
    default: return "default";
    }
}

/* ---- listing ---- */

static int is_episode_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.') return 0; /* hidden files, and our own temp files are ".tmp." suffixed, see below */
    if (strstr(n, ".tmp.")) return 0;
    return (l > 3 && strcmp(n + l - 3, ".h5") == 0) || (l > 5 && strcmp(n + l - 5, ".hdf5") == 0);
}

void dataset_free_list(char **paths, int n)
{
    for (int i = 0; i < n && paths; i++) free(paths[i]);
    free(paths);
}

int dataset_list_dir(const char *dir, char ***paths, int *n)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return mvla_fail(MVLA_ERR_IO, "%s: cannot list directory: %s", dir, strerror(errno));
    int cap = 0, count = 0, rc = MVLA_OK;
    char **list = NULL;
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_episode_name(e->d_name)) continue;
        size_t len = dl + 1 + strlen(e->d_name) + 1;
        char *p = malloc(len);
        if (!p) {
            rc = MVLA_ERR_NOMEM;
            break;
        }
        snprintf(p, len, slash ? "%s%s" : "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (count == cap) {
            int nc = cap ? cap * 2 : 64;
            char **bigger = realloc(list, (size_t)nc * sizeof *bigger);
            if (!bigger) {
                free(p);
                rc = MVLA_ERR_NOMEM;
                break;
            }
            list = bigger, cap = nc;
        }
        list[count++] = p;
    }
    closedir(d);
    if (rc) {
        dataset_free_list(list, count);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory listing files", dir);
    }
    str_sort(list, (size_t)count);
    *paths = list;
    *n = count;
    return MVLA_OK;
}

/* ---- the index ---- */

void dataset_free(Dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->count; i++) {
        DatasetEpisode *e = &ds->episodes[i];
        free(e->path);
        free(e->file);
        free(e->error);
        free(e->instruction);
        episode_info_free(&e->info);
    }
    free(ds->episodes);
    free(ds->root);
    free(ds);
}

static int index_one(DatasetEpisode *e, const char *path, const InstructionMap *map, const DatasetOptions *opt)
{
    if (!(e->path = dup_str(path)) || !(e->file = dup_str(base_name(path))))
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    EpisodeReader *r = NULL;
    if ((opt->isolate && episode_probe(path, 0) != 0) || episode_open(&r, path) != 0) {
        if (!(e->error = dup_str(mvla_error_message()))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        episode_parse_name(path, &e->info.name);
        e->info.collection_hour = e->info.collection_minute = e->info.num_frames_attr = -1;
        return MVLA_OK;
    }
    int rc = episode_info_copy(&e->info, episode_info(r));
    episode_close(r);
    if (rc) return rc;
    e->usable = 1;
    const char *text = instruction_resolve(&e->info, map, opt->lang, opt->instruction, &e->instruction_source);
    if (!(e->instruction = dup_str(text))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    return MVLA_OK;
}

int dataset_open_files(Dataset **out, const char *const *paths, int n, const DatasetOptions *opt)
{
    *out = NULL;
    DatasetOptions none = {0};
    if (!opt) opt = &none;
    InstructionMap *map = NULL;
    int rc = opt->mapping_path ? instruction_map_load(&map, opt->mapping_path) : MVLA_OK;
    if (rc) return rc;
    Dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->root = dup_str("")) || !(ds->episodes = calloc((size_t)n + 1, sizeof *ds->episodes))) {
        dataset_free(ds);
        instruction_map_free(map);
        return mvla_fail(MVLA_ERR_NOMEM, "dataset: out of memory");
    }
    /* Opening is serial (libhdf5 holds one lock anyway); only file hashing runs in parallel. */
    for (int i = 0; i < n && rc == MVLA_OK; i++) {
        ds->count = i + 1;
        rc = index_one(&ds->episodes[i], paths[i], map, opt);
        if (opt->progress && !opt->hash) opt->progress(opt->progress_ctx, i + 1, n);
    }
    instruction_map_free(map);
    if (rc == MVLA_OK && opt->hash) {
        int failed = -1, done = 0;
        char first_error[1024] = "";
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            int bad = hash_file(ds->episodes[i].path, ds->episodes[i].hash) != 0;
#pragma omp critical(dataset_hash)
            {
                if (bad && failed < 0) failed = i, snprintf(first_error, sizeof first_error, "%s", mvla_error_message());
                done++;
                if (opt->progress) opt->progress(opt->progress_ctx, done, n);
            }
        }
        if (failed >= 0) rc = mvla_fail(MVLA_ERR_IO, "%s", first_error);
    }
    if (rc) {
        dataset_free(ds);
        return rc;
    }
    *out = ds;
    return MVLA_OK;
}

int dataset_open(Dataset **out, const char *path, const DatasetOptions *opt)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc;
    if (!S_ISDIR(st.st_mode)) {
        const char *one[1] = {path};
        rc = dataset_open_files(out, one, 1, opt);
    } else {
        char **paths;
        int n;
        if ((rc = dataset_list_dir(path, &paths, &n))) return rc;
        rc = dataset_open_files(out, (const char *const *)paths, n, opt);
        dataset_free_list(paths, n);
    }
    if (rc) return rc;
    /* the dataset's root is what the caller named (a folder, or the one file) */
    free((*out)->root);
    if (!((*out)->root = dup_str(path))) {
        dataset_free(*out);
        *out = NULL;
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    return MVLA_OK;
}

int dataset_usable(const Dataset *ds)
{
    int n = 0;
    for (int i = 0; i < ds->count; i++) n += ds->episodes[i].usable;
    return n;
}

int dataset_find(const Dataset *ds, const char *file)
{
    for (int i = 0; i < ds->count; i++)
        if (strcmp(ds->episodes[i].file, file) == 0) return i;
    return -1;
}

int dataset_open_episode(const Dataset *ds, int i, EpisodeReader **out)
{
    *out = NULL;
    if (i < 0 || i >= ds->count) return mvla_fail(MVLA_ERR_ARG, "dataset: episode %d: expected 0..%d", i, ds->count - 1);
    return episode_open(out, ds->episodes[i].path);
}
