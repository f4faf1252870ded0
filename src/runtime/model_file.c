/* Model files: export from a training checkpoint, and open for inference (see model_file.h). */
#include "runtime/model_file.h"

#include "base/error.h"
#include "data/actions.h"
#include "io/safetensors.h"
#include "runtime/model_quant.h"
#include "runtime/clip_model_file.h"
#include "runtime/student_adapter.h"
#include "train/model_meta.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *floats3(const float *v)
{
    json_t *a = json_array();
    for (int i = 0; i < 3; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *doubles3(const double *v)
{
    json_t *a = json_array();
    for (int i = 0; i < 3; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *strings3(const char *a, const char *b, const char *c)
{
    json_t *x = json_array();
    json_array_append_new(x, json_string(a));
    json_array_append_new(x, json_string(b));
    json_array_append_new(x, json_string(c));
    return x;
}

/* The "mvla.model" object for policy p with the checkpoint's metadata (raw text, may be NULL). */
static json_t *build_meta(const StudentPolicy *p, const ModelMeta *mm, const char *ckpt_meta)
{
    const StudentConfig *c = &p->cfg;
    json_t *root = json_object();
    json_object_set_new(root, "format_version", json_integer(MODEL_FORMAT_VERSION));
    char *arch_text = student_config_to_json(c);
    json_t *arch = arch_text ? json_loads(arch_text, 0, NULL) : NULL;
    free(arch_text);
    if (!arch) {
        json_decref(root);
        return NULL;
    }
    json_object_set_new(root, "architecture", arch);

    json_t *pre = json_object();
    json_object_set_new(pre, "channels", json_string("RGB"));
    json_object_set_new(pre, "width", json_integer(mm->pre.width));
    json_object_set_new(pre, "height", json_integer(mm->pre.height));
    json_object_set_new(pre, "crop", json_string(crop_name(mm->pre.crop)));
    json_object_set_new(pre, "filter", json_string(filter_name(mm->pre.filter)));
    json_object_set_new(pre, "pixel_mean", doubles3(c->encoder.pixel_mean));
    json_object_set_new(pre, "pixel_std", doubles3(c->encoder.pixel_std));
    json_object_set_new(root, "preprocessing", pre);

    float kv = (float)c->action.key_value, limits[3] = {kv, kv, kv};
    json_t *act = json_object();
    json_object_set_new(act, "names", strings3("linear_x", "linear_y", "angular_z"));
    json_object_set_new(act, "units", strings3("m/s", "m/s", "rad/s"));
    json_object_set_new(act, "limits", floats3(limits));
    json_object_set_new(act, "kind", json_string(action_kind_name(c->action.kind)));
    json_object_set_new(act, "chunk", json_integer(c->action.chunk));
    json_object_set_new(act, "keys", json_string(ACTION_KEYS));
    json_object_set_new(act, "key_value", json_real(c->action.key_value));
    json_object_set_new(act, "mean", floats3(p->action_mean->data));
    json_object_set_new(act, "scale", floats3(p->action_scale->data));
    json_object_set_new(root, "action", act);

    json_t *ins = json_object();
    json_object_set_new(ins, "default", json_string(mm->instruction ? mm->instruction : ""));
    json_object_set_new(ins, "language", json_string(mm->lang));
    json_object_set_new(root, "instruction", ins);
    json_object_set_new(root, "quantization", json_string("none"));
    json_object_set_new(root, "batchnorm", json_string("unfolded"));

    json_t *prov = json_object();
    json_t *ck = ckpt_meta ? json_loads(ckpt_meta, 0, NULL) : NULL;
    json_t *src = json_object_get(ck, "provenance");
    if (json_is_object(src)) json_object_update(prov, src);
    json_t *metrics = json_object_get(ck, "metrics");
    if (metrics) json_object_set(prov, "metrics", metrics);
    json_decref(ck);
    json_object_set_new(root, "provenance", prov);
    return root;
}

int model_export(const char *checkpoint_path, const char *out_path)
{
    if (clip_model_path_is(checkpoint_path, 0)) return clip_model_export(checkpoint_path, out_path);
    StudentPolicy p;
    int rc = student_load(&p, checkpoint_path);
    if (rc) return rc;
    SafeTensors *st = NULL;
    ModelMeta mm;
    memset(&mm, 0, sizeof mm);
    json_t *meta = NULL;
    char *text = NULL;
    StWriter *w = NULL;
    if ((rc = st_open(&st, checkpoint_path))) goto done;
    const char *ck_meta = st_metadata(st, "mvla.metadata");
    if ((rc = model_meta_parse(&mm, ck_meta, &p.cfg, checkpoint_path))) goto done;
    meta = build_meta(&p, &mm, ck_meta);
    text = meta ? json_dumps(meta, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    w = st_writer_new();
    if (!text || !w) {
        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory building the model file", out_path);
        goto done;
    }
    for (int i = 0; i < p.params.count && !rc; i++)
        rc = st_writer_add_tensor(w, p.params.items[i].name, p.params.items[i].tensor);
    if (!rc) rc = st_writer_set_metadata(w, MODEL_META_KEY, text);
    if (!rc) rc = st_writer_save(w, out_path);
done:
    st_writer_free(w);
    free(text);
    json_decref(meta);
    model_meta_free(&mm);
    st_close(st);
    student_free(&p);
    return rc;
}

/* Wraps obj as {"key": obj} text, for the parsers that read a whole metadata object. */
static char *wrap_text(const char *key, json_t *obj)
{
    json_t *o = json_object();
    json_object_set(o, key, obj);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int parse_meta(ModelFile *m, json_t *root, StudentConfig *cfg, ModelQuant *mq, const char *path)
{
    if (!json_is_object(root))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: expected a JSON object", path, MODEL_META_KEY);
    json_t *v = json_object_get(root, "format_version");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: format_version: expected a positive integer", path,
                         MODEL_META_KEY);
    if (json_integer_value(v) > MODEL_FORMAT_VERSION)
        return mvla_fail(MVLA_ERR_UNSUPPORTED,
                         "%s: model format_version %lld is newer than this mvla supports (%d): upgrade mvla", path,
                         (long long)json_integer_value(v), MODEL_FORMAT_VERSION);
    static const char *const required[] = {"architecture", "preprocessing", "action", "instruction", NULL};
    for (int i = 0; required[i]; i++)
        if (!json_is_object(json_object_get(root, required[i])))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: %s: expected an object (missing or malformed)", path,
                             MODEL_META_KEY, required[i]);
    int rc = model_quant_parse(mq, json_object_get(root, "quantization"), path); /* "none" or int8 */
    if (rc) return rc;

    char *arch = wrap_text("policy", json_object_get(root, "architecture"));
    rc = arch ? student_config_from_metadata(cfg, arch, path) : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    free(arch);
    if (rc) return rc;
    char *pre = wrap_text("preprocess", json_object_get(root, "preprocessing"));
    rc = pre ? student_model_preprocess(pre, cfg, &m->pre, path) : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    free(pre);
    if (rc) return rc;

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

int model_open(ModelFile *m, const char *path)
{
    if (clip_model_path_is(path, 1)) return clip_model_open(m, path);
    memset(m, 0, sizeof *m);
    SafeTensors *st = NULL;
    int rc = st_open(&st, path);
    if (rc) return rc;
    const char *text = st_metadata(st, MODEL_META_KEY);
    if (!text) {
        rc = mvla_fail(MVLA_ERR_FORMAT,
                       "%s: no \"%s\" metadata: not an mvla model file (a training checkpoint? run `mvla export` on it)",
                       path, MODEL_META_KEY);
        st_close(st);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    StudentConfig cfg;
    ModelQuant mq = {0};
    rc = root ? parse_meta(m, root, &cfg, &mq, path)
              : mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: invalid JSON at line %d: %s", path, MODEL_META_KEY,
                          jerr.line, jerr.text);
    json_decref(root);
    int inited = 0;
    if (!rc && !(rc = student_init(&m->policy, &cfg, 0))) inited = 1;
    for (int i = 0; !rc && i < m->policy.params.count; i++) {
        const Param *pr = &m->policy.params.items[i];
        if (!st_find(st, pr->name))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is missing: the file is incomplete or not for this "
                           "architecture", path, pr->name);
        else
            rc = model_quant_load(&mq, st, pr->name, pr->tensor, path); /* st_load, or dequantised int8 */
    }
    st_close(st);
    if (!rc) rc = student_fold_batchnorm(&m->policy);
    if (!rc) rc = model_quant_attach(&mq, &m->policy, path);
    model_quant_free(&mq);
    if (rc) {
        if (inited) student_free(&m->policy);
        free(m->instruction);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

void model_file_free(ModelFile *m)
{
    if (!m) return;
    student_free(&m->policy);
    if (m->clip) clip_policy_free(m->clip);
    free(m->clip);
    free(m->instruction);
    memset(m, 0, sizeof *m);
}
