/* `mvla export A B ...`: an ensemble model file from 2..MODEL_MAX_MEMBERS student checkpoints (the
 * format: model_file.h). */
#include "base/error.h"
#include "io/safetensors.h"
#include "runtime/clip_model_file.h"
#include "runtime/model_file.h"
#include "runtime/model_file_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    StudentPolicy p;
    int loaded;
    json_t *meta;   /* its "mvla.model" object, as a one-checkpoint export would write it */
} Member;

/* Loads checkpoint path and builds its model file metadata. */
static int member_open(Member *m, const char *path)
{
    if (clip_model_path_is(path, 0))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "export: %s is a CLIP head's checkpoint: an ensemble takes student "
                         "policies", path);
    int rc = student_load(&m->p, path);
    if (rc) return rc;
    m->loaded = 1;
    SafeTensors *st = NULL;
    if ((rc = st_open(&st, path))) return rc;
    const char *ck_meta = st_metadata(st, "mvla.metadata");
    ModelMeta mm;
    if (!(rc = model_meta_parse(&mm, ck_meta, &m->p.cfg, path))) {
        if (!(m->meta = model_file_student_meta(&m->p, &mm, ck_meta)))
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        model_meta_free(&mm);
    }
    st_close(st);
    return rc;
}

/* Finds the first place where a and b differ: its path appended to path, and both values as compact
 * JSON ("absent" when missing). Returns 1 when they differ. */
static int json_diff(json_t *a, json_t *b, char *path, size_t n, char **va, char **vb)
{
    size_t len = strlen(path);
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *v;
        json_t *both[2] = {a, b};
        for (int side = 0; side < 2; side++)
            json_object_foreach(both[side], key, v) {
                snprintf(path + len, n - len, "%s%s", len ? "." : "", key);
                if (json_diff(json_object_get(a, key), json_object_get(b, key), path, n, va, vb)) return 1;
            }
        path[len] = 0;
        return 0;
    }
    if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            snprintf(path + len, n - len, "[%zu]", i);
            if (json_diff(json_array_get(a, i), json_array_get(b, i), path, n, va, vb)) return 1;
        }
        path[len] = 0;
        return 0;
    }
    if (a && b && json_equal(a, b)) return 0;
    *va = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("absent");
    *vb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("absent");
    return 1;
}

/* A copy of section `key` of a member's metadata without the fields that may differ between members. */
static json_t *comparable(json_t *meta, const char *key)
{
    json_t *o = json_deep_copy(json_object_get(meta, key));
    if (!strcmp(key, "architecture")) json_object_del(o, "name");
    if (!strcmp(key, "action")) json_object_del(o, "mean"), json_object_del(o, "scale");
    return o;
}

/* Refuses member b (path pb) unless it matches member a (path pa) where an ensemble needs it. */
static int check_same(json_t *a, json_t *b, const char *pa, const char *pb)
{
    static const char *const sections[] = {"architecture", "preprocessing", "action"};
    for (int s = 0; s < 3; s++) {
        json_t *x = comparable(a, sections[s]), *y = comparable(b, sections[s]);
        char path[512], *va = NULL, *vb = NULL;
        /* the architecture's fields are named as in a policy config ("encoder.input_width") */
        snprintf(path, sizeof path, "%s", s ? sections[s] : "");
        int differ = json_diff(x, y, path, sizeof path, &va, &vb);
        json_decref(x);
        json_decref(y);
        int rc = 0;
        if (differ)
            rc = mvla_fail(MVLA_ERR_ARG, "export: %s: %s in %s, %s in %s: the members of an ensemble need the same "
                           "architecture, preprocessing and action section", path, va ? va : "?", pa, vb ? vb : "?", pb);
        free(va);
        free(vb);
        if (rc) return rc;
    }
    return 0;
}

/* The first member's provenance plus "members": one entry per checkpoint. */
static json_t *ensemble_provenance(Member *m, const char *const *paths, int n)
{
    json_t *prov = json_deep_copy(json_object_get(m[0].meta, "provenance")), *list = json_array();
    json_t *digest0 = json_object_get(json_object_get(m[0].meta, "provenance"), "train_digest");
    for (int i = 0; i < n; i++) {
        json_t *pv = json_object_get(m[i].meta, "provenance"), *e = json_object();
        json_t *digest = json_object_get(pv, "train_digest"), *eps = json_object_get(pv, "train_episodes");
        json_object_set_new(e, "checkpoint", json_string(paths[i]));
        if (digest) json_object_set(e, "train_digest", digest);
        if (i > 0 && eps && !(digest && digest0 && json_equal(digest, digest0))) json_object_set(e, "train_episodes", eps);
        json_array_append_new(list, e);
    }
    json_object_set_new(prov, "members", list);
    return prov;
}

/* The first member's metadata with "members": n (and "mirror") after format_version and the ensemble's
 * provenance. */
static char *ensemble_meta_text(Member *m, const char *const *paths, int n, int mirror)
{
    json_t *root = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(m[0].meta, key, v) {
        if (!strcmp(key, "provenance")) json_object_set_new(root, key, ensemble_provenance(m, paths, n));
        else json_object_set(root, key, v);
        if (!strcmp(key, "format_version")) json_object_set_new(root, "members", json_integer(n));
        if (!strcmp(key, "format_version") && mirror) json_object_set_new(root, "mirror", json_true());
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    return text;
}

static int write_ensemble(Member *m, const char *const *paths, int n, const char *out_path, int mirror)
{
    StWriter *w = st_writer_new();
    char *text = ensemble_meta_text(m, paths, n, mirror);
    int rc = w && text ? 0 : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory building the model file", out_path);
    for (int i = 0; i < n && !rc; i++)
        for (int k = 0; k < m[i].p.params.count && !rc; k++) {
            char name[512];
            snprintf(name, sizeof name, "members.%d.%s", i, m[i].p.params.items[k].name);
            rc = st_writer_add_tensor(w, name, m[i].p.params.items[k].tensor);
        }
    if (!rc) rc = st_writer_set_metadata(w, MODEL_META_KEY, text);
    if (!rc) rc = st_writer_save(w, out_path);
    st_writer_free(w);
    free(text);
    return rc;
}

int model_export_ensemble(const char *const *paths, int n, const char *out_path, int mirror)
{
    if (n == 1) return mirror ? model_export_mirrored(paths[0], out_path) : model_export(paths[0], out_path);
    if (n < 1 || n > MODEL_MAX_MEMBERS)
        return mvla_fail(MVLA_ERR_ARG, "export: %d checkpoints: expected 1, or 2..%d for an ensemble", n,
                         MODEL_MAX_MEMBERS);
    Member *m = calloc((size_t)n, sizeof *m);
    if (!m) return mvla_fail(MVLA_ERR_NOMEM, "export: out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        rc = member_open(&m[i], paths[i]);
        if (!rc && i > 0) rc = check_same(m[0].meta, m[i].meta, paths[0], paths[i]);
    }
    if (!rc) rc = write_ensemble(m, paths, n, out_path, mirror);
    for (int i = 0; i < n; i++) {
        if (m[i].loaded) student_free(&m[i].p);
        json_decref(m[i].meta);
    }
    free(m);
    return rc;
}
