/* Model files: export from a training checkpoint, and open for inference (see model_file.h). */
#include "runtime/model_file.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "runtime/model_quant.h"
#include "runtime/clip_model_file.h"
#include "runtime/model_file_common.h"
#include "runtime/model_preprocess.h"
#include "train/model_meta.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *doubles3(const double *v)
{
    json_t *a = json_array();
    for (int i = 0; i < 3; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

json_t *model_file_student_meta(const void *policy, const ModelMeta *mm, const char *ckpt_meta)
{
    const StudentPolicy *p = policy;
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

    json_object_set_new(root, "action", model_file_action_json(p));
    json_object_set_new(root, "instruction", model_file_instruction_json(mm));
    json_object_set_new(root, "quantization", json_string("none"));
    json_object_set_new(root, "batchnorm", json_string("unfolded"));
    json_object_set_new(root, "provenance", model_file_provenance_json(ckpt_meta));
    return root;
}

/* A student checkpoint -> model file, with the metadata of build. */
static int export_student(const char *checkpoint_path, const char *out_path, ModelMetaBuildFn build)
{
    StudentPolicy p;
    int rc = student_load(&p, checkpoint_path);
    if (rc) return rc;
    rc = model_file_write(checkpoint_path, out_path, &p, &p.cfg, &p.params, build, NULL);
    student_free(&p);
    return rc;
}

int model_export(const char *checkpoint_path, const char *out_path)
{
    if (clip_model_path_is(checkpoint_path, 0)) return clip_model_export(checkpoint_path, out_path);
    return export_student(checkpoint_path, out_path, model_file_student_meta);
}

/* model_file_student_meta with "mirror": true (model_export_ensemble of one checkpoint). */
static json_t *student_meta_mirror(const void *policy, const ModelMeta *mm, const char *ckpt_meta)
{
    json_t *root = model_file_student_meta(policy, mm, ckpt_meta);
    if (root) json_object_set_new(root, "mirror", json_true());
    return root;
}

int model_export_mirrored(const char *checkpoint_path, const char *out_path)
{
    if (clip_model_path_is(checkpoint_path, 0))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "export: %s is a CLIP head's checkpoint: --mirror is for student "
                         "policies", checkpoint_path);
    return export_student(checkpoint_path, out_path, student_meta_mirror);
}

int model_file_is(const char *path)
{
    SafeTensors *st = NULL;
    if (st_open(&st, path)) {
        mvla_error_clear();
        return 0;
    }
    int yes = st_metadata(st, MODEL_META_KEY) != NULL;
    st_close(st);
    return yes;
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

/* "members": absent (1) or an integer 1..MODEL_MAX_MEMBERS. */
static int read_members(json_t *root, int *n, const char *path)
{
    json_t *v = json_object_get(root, "members");
    *n = 1;
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MODEL_MAX_MEMBERS)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: members: expected an integer 1..%d (an ensemble's size)",
                         path, MODEL_META_KEY, MODEL_MAX_MEMBERS);
    *n = (int)json_integer_value(v);
    return 0;
}

/* "mirror": absent (0) or a boolean. */
static int read_mirror(json_t *root, int *mirror, const char *path)
{
    json_t *v = json_object_get(root, "mirror");
    *mirror = v && json_is_true(v);
    if (v && !json_is_boolean(v))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: mirror: expected true or false", path, MODEL_META_KEY);
    return 0;
}

static int parse_meta(ModelFile *m, json_t *root, StudentConfig *cfg, ModelQuant *mq, const char *path)
{
    if (!json_is_object(root))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: expected a JSON object", path, MODEL_META_KEY);
    int rc = model_file_check_version(root, path);
    if (rc) return rc;
    static const char *const required[] = {"architecture", "preprocessing", "action", "instruction", NULL};
    for (int i = 0; required[i]; i++)
        if (!json_is_object(json_object_get(root, required[i])))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: %s: expected an object (missing or malformed)", path,
                             MODEL_META_KEY, required[i]);
    if ((rc = read_members(root, &m->n_members, path))) return rc;
    if ((rc = read_mirror(root, &m->mirror, path))) return rc;
    rc = model_quant_parse(mq, json_object_get(root, "quantization"), path); /* "none" or int8 */
    if (rc) return rc;

    char *arch = wrap_text("policy", json_object_get(root, "architecture"));
    rc = arch ? student_config_from_metadata(cfg, arch, path) : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    free(arch);
    if (rc) return rc;
    char *pre = wrap_text("preprocess", json_object_get(root, "preprocessing"));
    rc = pre ? student_model_preprocess(pre, cfg, &m->pre, path) : mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    free(pre);
    if (rc) return rc;
    return model_file_read_action_instruction(m, root, path);
}

/* Builds member i (of n) of cfg and loads its tensors from st (prefixed in an ensemble), then folds
 * batch norm. On failure the member is freed. */
static int load_member(StudentPolicy *p, const StudentConfig *cfg, const SafeTensors *st, ModelQuant *mq, int i, int n,
                       const char *path)
{
    int rc = student_init(p, cfg, 0);
    if (rc) return rc;
    for (int k = 0; !rc && k < p->params.count; k++) {
        const Param *pr = &p->params.items[k];
        char name[512];
        if (n > 1) snprintf(name, sizeof name, "members.%d.%s", i, pr->name);
        else snprintf(name, sizeof name, "%s", pr->name);
        if (!st_find(st, name))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is missing: the file is incomplete or not for this "
                           "architecture", path, name);
        else
            rc = model_quant_load(mq, st, name, pr->tensor, path); /* st_load, or dequantised int8 */
    }
    if (!rc) rc = student_fold_batchnorm(p);
    if (rc) student_free(p);
    return rc;
}

/* Every member, then (int8 files) each member's engine. */
static int load_members(ModelFile *m, const StudentConfig *cfg, const SafeTensors *st, ModelQuant *mq, const char *path)
{
    int n = m->n_members, rc = 0;
    if (n > 1 && !(m->more = calloc((size_t)n - 1, sizeof *m->more)))
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    int loaded = 0;
    for (; !rc && loaded < n; loaded++)
        if ((rc = load_member(model_file_member(m, loaded), cfg, st, mq, loaded, n, path))) break;
    for (int i = 0; !rc && i < n; i++) {
        char prefix[32] = "";
        if (n > 1) snprintf(prefix, sizeof prefix, "members.%d.", i);
        rc = model_quant_attach(mq, model_file_member(m, i), prefix, path);
    }
    if (rc) {
        for (int i = 0; i < loaded; i++) student_free(model_file_member(m, i));
        free(m->more);
        m->more = NULL;
    }
    return rc;
}

int model_open(ModelFile *m, const char *path)
{
    if (clip_model_path_is(path, 1)) {
        int rc = clip_model_open(m, path);
        if (!rc) m->n_members = 1;
        return rc;
    }
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
    if (!rc) rc = load_members(m, &cfg, st, &mq, path);
    st_close(st);
    model_quant_free(&mq);
    if (rc) {
        free(m->instruction);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

void model_file_free(ModelFile *m)
{
    if (!m) return;
    student_free(&m->policy);
    for (int i = 1; i < m->n_members && m->more; i++) student_free(&m->more[i - 1]);
    free(m->more);
    if (m->clip) clip_policy_free(m->clip);
    free(m->clip);
    free(m->instruction);
    memset(m, 0, sizeof *m);
}
