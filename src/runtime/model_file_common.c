/* What every model file family shares (see model_file_common.h). */
#include "runtime/model_file_common.h"

#include "base/error.h"
#include "data/actions.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_file_write(const char *checkpoint_path, const char *out_path, const void *policy, const StudentConfig *c,
                     const ParamList *params, ModelMetaBuildFn build, ModelTensorsFn extra)
{
    SafeTensors *st = NULL;
    ModelMeta mm;
    memset(&mm, 0, sizeof mm);
    json_t *meta = NULL;
    char *text = NULL;
    StWriter *w = NULL;
    int rc = st_open(&st, checkpoint_path);
    if (rc) return rc;
    const char *ck_meta = st_metadata(st, "mvla.metadata");
    if ((rc = model_meta_parse(&mm, ck_meta, c, checkpoint_path))) goto done;
    meta = build(policy, &mm, ck_meta);
    text = meta ? json_dumps(meta, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    w = st_writer_new();
    if (!text || !w) {
        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory building the model file", out_path);
        goto done;
    }
    for (int i = 0; i < params->count && !rc; i++)
        rc = st_writer_add_tensor(w, params->items[i].name, params->items[i].tensor);
    if (!rc && extra) rc = extra(policy, w);
    if (!rc) rc = st_writer_set_metadata(w, MODEL_META_KEY, text);
    if (!rc) rc = st_writer_save(w, out_path);
done:
    st_writer_free(w);
    free(text);
    json_decref(meta);
    model_meta_free(&mm);
    st_close(st);
    return rc;
}

static json_t *floats3(const float *v)
{
    return json_pack("[f, f, f]", (double)v[0], (double)v[1], (double)v[2]);
}

json_t *model_file_action_json(const StudentPolicy *p)
{
    const StudentConfig *c = &p->cfg;
    float kv = (float)c->action.key_value, limits[3] = {kv, kv, kv};
    json_t *act = json_object();
    json_object_set_new(act, "names", json_pack("[s, s, s]", "linear_x", "linear_y", "angular_z"));
    json_object_set_new(act, "units", json_pack("[s, s, s]", "m/s", "m/s", "rad/s"));
    json_object_set_new(act, "limits", floats3(limits));
    json_object_set_new(act, "kind", json_string(action_kind_name(c->action.kind)));
    json_object_set_new(act, "chunk", json_integer(c->action.chunk));
    json_object_set_new(act, "keys", json_string(ACTION_KEYS));
    json_object_set_new(act, "key_value", json_real(c->action.key_value));
    json_object_set_new(act, "mean", floats3(p->action_mean->data));
    json_object_set_new(act, "scale", floats3(p->action_scale->data));
    return act;
}

json_t *model_file_instruction_json(const ModelMeta *mm)
{
    return json_pack("{s:s, s:s}", "default", mm->instruction ? mm->instruction : "", "language", mm->lang);
}

json_t *model_file_provenance_json(const char *ckpt_meta)
{
    json_t *prov = json_object(), *ck = ckpt_meta ? json_loads(ckpt_meta, 0, NULL) : NULL;
    json_t *src = json_object_get(ck, "provenance"), *metrics = json_object_get(ck, "metrics");
    if (json_is_object(src)) json_object_update(prov, src);
    if (metrics) json_object_set(prov, "metrics", metrics);
    json_decref(ck);
    return prov;
}

int model_file_check_version(json_t *root, const char *path)
{
    json_t *v = json_object_get(root, "format_version");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: format_version: expected a positive integer", path,
                         MODEL_META_KEY);
    if (json_integer_value(v) > MODEL_FORMAT_VERSION)
        return mvla_fail(MVLA_ERR_UNSUPPORTED,
                         "%s: model format_version %lld is newer than this mvla supports (%d): upgrade mvla", path,
                         (long long)json_integer_value(v), MODEL_FORMAT_VERSION);
    return 0;
}

int model_file_read_action_instruction(ModelFile *m, json_t *root, const char *path)
{
    json_t *lim = json_object_get(json_object_get(root, "action"), "limits");
    if (!json_is_array(lim) || json_array_size(lim) != 3)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: action.limits: expected an array of 3 positive numbers", path,
                         MODEL_META_KEY);
    for (int i = 0; i < 3; i++) {
        json_t *x = json_array_get(lim, (size_t)i);
        double d = json_is_number(x) ? json_number_value(x) : -1;
        if (!(d > 0) || !isfinite(d))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: action.limits[%d]: expected a positive number", path,
                             MODEL_META_KEY, i);
        m->limits[i] = (float)d;
    }
    json_t *ins = json_object_get(root, "instruction"), *def = json_object_get(ins, "default"),
           *lang = json_object_get(ins, "language");
    if (!json_is_string(def) || !json_is_string(lang))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: instruction: expected strings default and language", path,
                         MODEL_META_KEY);
    snprintf(m->lang, sizeof m->lang, "%s", json_string_value(lang));
    if (!(m->instruction = strdup(json_string_value(def)))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    return 0;
}
