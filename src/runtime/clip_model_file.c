/* CLIP-head model files: export from a training checkpoint, open for inference (see clip_model_file.h). */
#include "runtime/clip_model_file.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "runtime/model_file_common.h"
#include "train/model_meta.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int clip_model_is_file(const char *model_meta_json)
{
    json_t *root = model_meta_json ? json_loads(model_meta_json, 0, NULL) : NULL;
    const char *fam = json_string_value(json_object_get(root, "family"));
    int yes = fam && strcmp(fam, "clip") == 0;
    json_decref(root);
    return yes;
}

int clip_model_path_is(const char *path, int model_file)
{
    SafeTensors *st = NULL;
    if (st_open(&st, path)) {
        mvla_error_clear();
        return 0;
    }
    int yes = model_file ? clip_model_is_file(st_metadata(st, MODEL_META_KEY))
                         : clip_policy_is_metadata(st_metadata(st, "mvla.metadata"));
    st_close(st);
    return yes;
}

/* The "mvla.model" object of head p (a ClipPolicy, with its backbone) and the checkpoint's metadata
 * (a ModelMetaBuildFn). */
static json_t *build_meta(const void *policy, const ModelMeta *mm, const char *ckpt_meta)
{
    const ClipPolicy *p = policy;
    const ClipPolicyConfig *c = &p->cfg;
    json_t *arch = clip_policy_config_to_json(c), *bb = clip_backbone_json(p->backbone),
           *norm = clip_preprocess_to_json(&p->backbone->pre);
    if (!arch || !bb || !norm) {
        json_decref(arch), json_decref(bb), json_decref(norm);
        return NULL;
    }
    json_object_set_new(bb, "embedded", json_true());
    json_t *root = json_object();
    json_object_set_new(root, "format_version", json_integer(MODEL_FORMAT_VERSION));
    json_object_set_new(root, "family", json_string("clip"));
    json_object_set_new(root, "architecture", arch);
    json_object_set_new(root, "backbone", bb);
    json_object_set_new(root, "preprocessing",
                        json_pack("{s:s, s:i, s:i, s:s, s:s, s:o}", "channels", "RGB", "width", mm->pre.width, "height",
                                  mm->pre.height, "crop", crop_name(mm->pre.crop), "filter", filter_name(mm->pre.filter),
                                  "clip", norm));
    json_object_set_new(root, "action", model_file_action_json(&p->act)); /* the head's action shell */
    json_object_set_new(root, "instruction", model_file_instruction_json(mm));
    json_object_set_new(root, "quantization", json_string("none"));
    json_object_set_new(root, "provenance", model_file_provenance_json(ckpt_meta));
    return root;
}

/* The backbone's tensors and tokenizer files (a ModelTensorsFn). */
static int embed_backbone(const void *policy, StWriter *w)
{
    return clip_backbone_embed(((const ClipPolicy *)policy)->backbone, w);
}

int clip_model_export(const char *checkpoint_path, const char *out_path)
{
    ClipPolicy p;
    int rc = clip_policy_load(&p, checkpoint_path, 1, NULL);
    if (rc) return rc;
    rc = model_file_write(checkpoint_path, out_path, &p, &p.act.cfg, &p.params, build_meta, embed_backbone);
    clip_policy_free(&p);
    return rc;
}

/* ---- open ---- */

static int need_object(json_t *root, const char *key, json_t **out, const char *path)
{
    *out = json_object_get(root, key);
    if (!json_is_object(*out))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: %s: expected an object (missing or malformed)", path,
                         MODEL_META_KEY, key);
    return 0;
}

/* Frame preprocessing (size must be the head's R) and the backbone's normalisation. */
static int parse_preprocessing(ModelFile *m, json_t *pre, const char *path)
{
    const ClipPolicyConfig *c = &m->clip->cfg;
    json_t *w = json_object_get(pre, "width"), *h = json_object_get(pre, "height"), *crop = json_object_get(pre, "crop"),
           *filter = json_object_get(pre, "filter"), *ch = json_object_get(pre, "channels");
    if (!json_is_integer(w) || !json_is_integer(h) || !json_is_string(crop) || !json_is_string(filter) ||
        !json_is_string(ch) || strcmp(json_string_value(ch), "RGB") != 0)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: preprocessing: expected integers width, height, strings crop, "
                         "filter and channels \"RGB\"", path, MODEL_META_KEY);
    preprocess_default(&m->pre);
    m->pre.width = (int)json_integer_value(w), m->pre.height = (int)json_integer_value(h);
    if (m->pre.width != c->image_size || m->pre.height != c->image_size)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: preprocessing: %dx%d: expected the backbone's %dx%d", path,
                         MODEL_META_KEY, m->pre.width, m->pre.height, c->image_size, c->image_size);
    if (crop_parse(json_string_value(crop), &m->pre.crop) || filter_parse(json_string_value(filter), &m->pre.filter))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: preprocessing: %s", path, MODEL_META_KEY, mvla_error_message());
    char where[600];
    snprintf(where, sizeof where, "%s: metadata %s: preprocessing.clip", path, MODEL_META_KEY);
    ClipPreprocess cp;
    int rc = clip_preprocess_from_json(json_object_get(pre, "clip"), where, &cp);
    if (rc) return rc;
    if (cp.resize != 0 || cp.crop_width != c->image_size || cp.crop_height != c->image_size)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: resize %d, crop %dx%d: expected 0 and the backbone's %dx%d (the frame "
                         "preprocessing resizes)", where, cp.resize, cp.crop_width, cp.crop_height, c->image_size,
                         c->image_size);
    m->clip->backbone->pre = cp;
    return 0;
}

static int open_parts(ModelFile *m, const SafeTensors *st, json_t *root, const char *path)
{
    json_t *arch, *bb, *pre;
    int rc = model_file_check_version(root, path);
    if (rc) return rc;
    json_t *q = json_object_get(root, "quantization");
    if (q && (!json_is_string(q) || strcmp(json_string_value(q), "none") != 0))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: metadata %s: quantization: a CLIP head's file must be \"none\"", path,
                         MODEL_META_KEY);
    rc = need_object(root, "architecture", &arch, path);
    if (!rc) rc = need_object(root, "backbone", &bb, path);
    if (!rc) rc = need_object(root, "preprocessing", &pre, path);
    if (rc) return rc;
    char label[600];
    snprintf(label, sizeof label, "%s: metadata %s: architecture", path, MODEL_META_KEY);
    ClipPolicyConfig c;
    clip_policy_config_default(&c);
    if ((rc = clip_policy_config_from_json(&c, arch, label))) return rc;
    if (!(m->clip = calloc(1, sizeof *m->clip))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    if ((rc = clip_policy_init(m->clip, &c, 0))) {
        free(m->clip);
        m->clip = NULL;
        return rc;
    }
    for (int i = 0; !rc && i < m->clip->params.count; i++) {
        const Param *pr = &m->clip->params.items[i];
        if (!st_find(st, pr->name))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is missing: the file is incomplete or not for this "
                           "architecture", path, pr->name);
        else
            rc = st_load(st, pr->name, pr->tensor);
    }
    if (!rc) rc = clip_backbone_open_embedded(&m->clip->backbone, st, json_object_get(bb, "config"), path);
    ClipPolicyConfig check = m->clip->cfg;
    if (!rc) rc = clip_policy_config_set_backbone(&check, m->clip->backbone, label);
    if (!rc) rc = parse_preprocessing(m, pre, path);
    if (!rc) rc = model_file_read_action_instruction(m, root, path);
    return rc;
}

int clip_model_open(ModelFile *m, const char *path)
{
    memset(m, 0, sizeof *m);
    SafeTensors *st = NULL;
    int rc = st_open(&st, path);
    if (rc) return rc;
    const char *text = st_metadata(st, MODEL_META_KEY);
    json_error_t jerr;
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    if (!root) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: missing or invalid JSON", path, MODEL_META_KEY);
    if (!rc) rc = open_parts(m, st, root, path);
    json_decref(root);
    st_close(st);
    if (rc) model_file_free(m);
    return rc;
}
