/* Checkpoint metadata: build and parse (see model_meta.h). */
#include "train/model_meta.h"

#include "base/error.h"
#include "base/str_order.h"
#include "io/safetensors.h"
#include "runtime/model_preprocess.h"

#include <stdlib.h>
#include <string.h>

void model_meta_digest(char **hashes, int n, char out[HASH_TEXT_MAX])
{
    str_sort(hashes, (size_t)n);
    Sha256 s;
    sha256_init(&s);
    for (int i = 0; i < n; i++) {
        sha256_update(&s, hashes[i], strlen(hashes[i]));
        sha256_update(&s, "\n", 1);
    }
    uint8_t d[32];
    char hex[65];
    sha256_final(&s, d);
    sha256_hex(d, hex);
    snprintf(out, HASH_TEXT_MAX, "sha256:%s", hex);
}

char *model_meta_build(const StudentPolicy *p, const TrainConfig *c, json_t *provenance, json_t *trainer)
{
    char *base = student_metadata_json(p);
    json_t *root = base ? json_loads(base, 0, NULL) : NULL;
    free(base);
    if (!root) return NULL;
    model_meta_add_common(root, c, provenance, trainer);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    return text;
}

void model_meta_add_common(json_t *root, const TrainConfig *c, json_t *provenance, json_t *trainer)
{
    Preprocess pre;
    train_config_preprocess(c, &pre);
    json_object_set_new(root, "preprocess",
                        json_pack("{s:i, s:i, s:s, s:s, s:s}", "width", pre.width, "height", pre.height, "crop",
                                  crop_name(pre.crop), "filter", filter_name(pre.filter), "channels", "RGB"));
    json_object_set_new(root, "data",
                        json_pack("{s:s, s:s, s:s, s:b}", "lang", c->data.lang, "instructions", c->data.instructions,
                                  "instruction", c->data.instruction, "skip_start", c->train.skip_start));
    if (provenance) json_object_set(root, "provenance", provenance);
    if (trainer) json_object_set(root, "trainer", trainer);
}

void model_meta_free(ModelMeta *m)
{
    free(m->instructions);
    free(m->instruction);
    free(m->dataset);
    free(m->manifest);
    for (int i = 0; i < m->n_train; i++) free(m->train_hashes[i]);
    free(m->train_hashes);
    memset(m, 0, sizeof *m);
}

/* A malloc'd copy of a non-empty JSON string member, else NULL. */
static char *opt_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) > 0 ? strdup(json_string_value(v)) : NULL;
}

int model_meta_parse(ModelMeta *m, const char *metadata_json, const StudentConfig *c, const char *source)
{
    const char *src = source ? source : "model";
    memset(m, 0, sizeof *m);
    snprintf(m->lang, sizeof m->lang, "en");
    m->skip_start = 1;
    m->fold = -1;
    m->epoch = -1;
    int rc = student_model_preprocess(metadata_json, c, &m->pre, src);
    if (rc) return rc;
    json_t *root = json_loads(metadata_json ? metadata_json : "", 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: expected a JSON object", src);
    }
    json_t *d = json_object_get(root, "data");
    if (json_is_object(d)) {
        json_t *lang = json_object_get(d, "lang"), *ss = json_object_get(d, "skip_start");
        if (json_is_string(lang) && (!strcmp(json_string_value(lang), "en") || !strcmp(json_string_value(lang), "ko")))
            snprintf(m->lang, sizeof m->lang, "%s", json_string_value(lang));
        if (json_is_boolean(ss)) m->skip_start = json_is_true(ss);
        m->instructions = opt_string(d, "instructions");
        m->instruction = opt_string(d, "instruction");
    }
    json_t *pv = json_object_get(root, "provenance");
    if (json_is_object(pv)) {
        json_t *list = json_object_get(pv, "train_episodes"), *fold = json_object_get(pv, "fold");
        if (!json_is_array(list)) {
            json_decref(root);
            model_meta_free(m);
            return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: provenance.train_episodes: expected an array of hashes", src);
        }
        m->has_provenance = 1;
        m->dataset = opt_string(pv, "dataset");
        m->manifest = opt_string(pv, "manifest");
        json_t *mh = json_object_get(pv, "manifest_hash"), *td = json_object_get(pv, "train_digest");
        if (json_is_string(mh)) snprintf(m->manifest_hash, sizeof m->manifest_hash, "%s", json_string_value(mh));
        if (json_is_string(td)) snprintf(m->train_digest, sizeof m->train_digest, "%s", json_string_value(td));
        if (json_is_integer(fold)) m->fold = (int)json_integer_value(fold);
        size_t n = json_array_size(list);
        m->train_hashes = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; m->train_hashes && i < n; i++) {
            json_t *h = json_array_get(list, i);
            if (!json_is_string(h)) {
                json_decref(root);
                model_meta_free(m);
                return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: provenance.train_episodes[%zu]: expected a string", src, i);
            }
            if (!(m->train_hashes[m->n_train] = strdup(json_string_value(h)))) break;
            m->n_train++;
        }
        if (!m->train_hashes || (size_t)m->n_train != n) {
            json_decref(root);
            model_meta_free(m);
            return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", src);
        }
        str_sort(m->train_hashes, (size_t)m->n_train);
    }
    json_t *tr = json_object_get(root, "trainer"), *ep = json_object_get(tr, "epoch");
    if (json_is_integer(ep)) m->epoch = (int)json_integer_value(ep);
    json_decref(root);
    return 0;
}

int model_meta_read(ModelMeta *m, const char *path, const StudentConfig *c)
{
    memset(m, 0, sizeof *m);
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    rc = model_meta_parse(m, st_metadata(st, "mvla.metadata"), c, path);
    st_close(st);
    return rc;
}

int model_meta_trained_on(const ModelMeta *m, const char *hash)
{
    if (!hash || !m->n_train) return 0;
    return bsearch(&hash, m->train_hashes, (size_t)m->n_train, sizeof(char *), str_order) != NULL;
}

int model_meta_add_train_episodes(json_t *provenance, json_t *more, const char *source)
{
    json_t *list = json_object_get(provenance, "train_episodes");
    size_t n = json_array_size(list), m = json_array_size(more), k = 0;
    char **all = malloc(sizeof(char *) * (n + m + 1));
    if (!all) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", source);
    for (size_t i = 0; i < n + m; i++) {
        const char *h = json_string_value(i < n ? json_array_get(list, i) : json_array_get(more, i - n));
        if (!h) {
            free(all);
            return mvla_fail(MVLA_ERR_FORMAT, "%s: provenance.train_episodes[%zu]: expected a string", source,
                             i < n ? i : i - n);
        }
        all[k++] = (char *)h; /* only sorted and read */
    }
    str_sort(all, k);
    json_t *merged = json_array();
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!i || strcmp(all[i], all[i - 1])) all[u++] = all[i], json_array_append_new(merged, json_string(all[i]));
    char digest[HASH_TEXT_MAX];
    model_meta_digest(all, (int)u, digest);
    free(all);
    json_object_set_new(provenance, "train_episodes", merged); /* last: all[] pointed into the old list */
    json_object_set_new(provenance, "train_digest", json_string(digest));
    return 0;
}
