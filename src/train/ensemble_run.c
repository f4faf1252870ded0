/* An ensemble's run folder (see ensemble_run.h). */
#include "train/ensemble_run.h"

#include "base/error.h"
#include "base/file.h"
#include "runtime/model_file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_LEN 4200

static int load_run_json(const char *run, json_t **out)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/run.json", run);
    json_error_t err;
    *out = json_load_file(path, 0, &err);
    if (!*out) return mvla_fail(MVLA_ERR_IO, "ensemble: %s: %s (expected a run folder of `mvla train`)", path, err.text);
    if (!json_is_object(*out) || !json_is_object(json_object_get(*out, "episodes"))) {
        json_decref(*out);
        *out = NULL;
        return mvla_fail(MVLA_ERR_FORMAT, "ensemble: %s: expected a JSON object with \"episodes\"", path);
    }
    return 0;
}

/* The members must have been trained and validated on the same episodes. */
static int same_split(const json_t *a, const json_t *b, const char *run_a, const char *run_b)
{
    static const char *const keys[] = {"manifest_hash", "fold", "episodes", NULL};
    for (int i = 0; keys[i]; i++) {
        const json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
        if (!json_equal(x, y)) {
            char *tx = x ? json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            char *ty = y ? json_dumps(y, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            int rc = mvla_fail(MVLA_ERR_ARG, "ensemble: run.json %s: %s in %s, %s in %s: the members must be "
                               "trained on the same split", keys[i], tx ? tx : "missing", run_a,
                               ty ? ty : "missing", run_b);
            free(tx), free(ty);
            return rc;
        }
    }
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    char *text;
    size_t n;
    int rc = file_read_all(from, &text, &n);
    if (rc) return rc;
    rc = file_write_atomic(to, text, n);
    free(text);
    return rc;
}

static json_t *ensemble_json(json_t *const *members, const char *const *runs, int n, long model_bytes, int mirror)
{
    json_t *o = json_object(), *names = json_array();
    double params = 0;
    for (int i = 0; i < n; i++) {
        json_array_append_new(names, json_string(runs[i]));
        params += json_number_value(json_object_get(members[i], "parameters"));
    }
    json_object_set_new(o, "format", json_string("mvla-ensemble"));
    json_object_set_new(o, "members", names);
    static const char *const copied[] = {"data_dir", "manifest", "manifest_hash", "fold", "episodes", NULL};
    for (int i = 0; copied[i]; i++) {
        json_t *v = json_object_get(members[0], copied[i]);
        if (v) json_object_set(o, copied[i], v);
    }
    json_object_set_new(o, "parameters", json_integer((json_int_t)params));
    json_object_set_new(o, "model_bytes", json_integer(model_bytes));
    const char *f = json_string_value(json_object_get(members[0], "features"));
    char features[256];
    snprintf(features, sizeof features, "%s ensemble x%d%s", f ? f : "?", n, mirror ? " mirror" : "");
    json_object_set_new(o, "features", json_string(features));
    return o;
}

int ensemble_run_write(const char *const *runs, int n, const char *out_dir, int mirror)
{
    if (n < 2 || n > MODEL_MAX_MEMBERS)
        return mvla_fail(MVLA_ERR_ARG, "ensemble: %d run folders: expected 2..%d", n, MODEL_MAX_MEMBERS);
    json_t *members[MODEL_MAX_MEMBERS] = {0};
    char ckpt[MODEL_MAX_MEMBERS][PATH_LEN], path[PATH_LEN];
    const char *ckpts[MODEL_MAX_MEMBERS];
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        snprintf(ckpt[i], sizeof ckpt[i], "%s/checkpoints/best.safetensors", runs[i]);
        ckpts[i] = ckpt[i];
        if (!(rc = load_run_json(runs[i], &members[i])) && i > 0) rc = same_split(members[0], members[i], runs[0], runs[i]);
    }
    if (!rc) rc = file_make_dirs(out_dir);
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    if (!rc) rc = model_export_ensemble(ckpts, n, path, mirror);
    struct stat st;
    long bytes = !rc && stat(path, &st) == 0 ? (long)st.st_size : -1;
    char from[PATH_LEN];
    snprintf(from, sizeof from, "%s/config.json", runs[0]);
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    if (!rc) rc = copy_file(from, path);
    if (!rc) {
        json_t *o = ensemble_json(members, runs, n, bytes, mirror);
        char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        snprintf(path, sizeof path, "%s/run.json", out_dir);
        rc = text ? file_write_atomic(path, text, strlen(text)) : mvla_fail(MVLA_ERR_NOMEM, "ensemble: out of memory");
        free(text);
        json_decref(o);
    }
    for (int i = 0; i < n; i++) json_decref(members[i]);
    return rc;
}
