/* CLIP config.json: Hugging Face defaults, parsing with per-key checks, presets, and writing. */
#include "models/clip_config.h"

#include "base/error.h"
#include "base/file.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tower_common(ClipTowerConfig *t)
{
    memset(t, 0, sizeof *t);
    t->num_hidden_layers = 12;
    t->hidden_act = MLP_ACT_QUICK_GELU;
    t->layer_norm_eps = 1e-5;
    t->projection_dim = 512;
}

void clip_config_default(ClipConfig *c)
{
    memset(c, 0, sizeof *c);
    ClipTowerConfig *t = &c->text, *v = &c->vision;
    tower_common(t);
    t->hidden_size = 512;
    t->intermediate_size = 2048;
    t->num_attention_heads = 8;
    t->vocab_size = 49408;
    t->max_position_embeddings = 77;
    t->bos_token_id = 49406;
    t->eos_token_id = 49407;
    t->pad_token_id = 1;
    tower_common(v);
    v->hidden_size = 768;
    v->intermediate_size = 3072;
    v->num_attention_heads = 12;
    v->image_size = 224;
    v->patch_size = 32;
    v->num_channels = 3;
    c->projection_dim = 512;
    c->logit_scale_init_value = 2.6592;
    c->towers = CLIP_TOWERS_BOTH;
}

int clip_config_preset(ClipConfig *c, const char *name)
{
    clip_config_default(c);
    if (name && strcmp(name, "ViT-B/32") == 0) return MVLA_OK;
    if (name && strcmp(name, "ViT-B/16") == 0) {
        c->vision.patch_size = 16;
        return MVLA_OK;
    }
    if (name && strcmp(name, "ViT-L/14") == 0) {
        c->vision.hidden_size = 1024, c->vision.intermediate_size = 4096;
        c->vision.num_hidden_layers = 24, c->vision.num_attention_heads = 16, c->vision.patch_size = 14;
        c->text.hidden_size = 768, c->text.intermediate_size = 3072, c->text.num_attention_heads = 12;
        c->projection_dim = c->text.projection_dim = c->vision.projection_dim = 768;
        return MVLA_OK;
    }
    return mvla_fail(MVLA_ERR_ARG, "clip preset '%s': expected ViT-B/32, ViT-B/16 or ViT-L/14", name ? name : "");
}

/* ---- parsing ---- */

typedef struct {
    const char *label; /* file name */
    const char *obj;   /* "text_config", "vision_config" or "" (top level) */
} Where;

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int key_fail(const Where *w, const char *key, const char *expected, const json_t *v)
{
    char got[96];
    if (json_is_integer(v)) snprintf(got, sizeof got, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(got, sizeof got, "%g", json_real_value(v));
    else if (json_is_string(v)) snprintf(got, sizeof got, "\"%.60s\"", json_string_value(v));
    else snprintf(got, sizeof got, "%s", type_name(v));
    return mvla_fail(MVLA_ERR_FORMAT, "%s: %s%s%s: expected %s, got %s", w->label, w->obj, *w->obj ? "." : "", key,
                     expected, got);
}

/* An absent or null key keeps *dst (the default). */
static int get_int(const Where *w, const json_t *obj, const char *key, int min, int *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return MVLA_OK;
    char want[64];
    snprintf(want, sizeof want, "an integer >= %d", min);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > INT_MAX)
        return key_fail(w, key, want, v);
    *dst = (int)json_integer_value(v);
    return MVLA_OK;
}

static int get_positive_real(const Where *w, const json_t *obj, const char *key, double *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return MVLA_OK;
    if (!json_is_number(v) || !(json_number_value(v) > 0)) return key_fail(w, key, "a number > 0", v);
    *dst = json_number_value(v);
    return MVLA_OK;
}

static int get_real(const Where *w, const json_t *obj, const char *key, double *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return MVLA_OK;
    if (!json_is_number(v)) return key_fail(w, key, "a number", v);
    *dst = json_number_value(v);
    return MVLA_OK;
}

static int get_act(const Where *w, const json_t *obj, const char *key, MlpAct *dst)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return MVLA_OK;
    if (!json_is_string(v) || mlp_act_from_name(json_string_value(v), dst))
        return key_fail(w, key, "\"quick_gelu\", \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\" or \"relu\"", v);
    return MVLA_OK;
}

static int parse_tower(const Where *w, const json_t *obj, ClipTowerConfig *t, int is_text)
{
    int rc = get_int(w, obj, "hidden_size", 1, &t->hidden_size);
    if (!rc) rc = get_int(w, obj, "intermediate_size", 1, &t->intermediate_size);
    if (!rc) rc = get_int(w, obj, "num_hidden_layers", 0, &t->num_hidden_layers);
    if (!rc) rc = get_int(w, obj, "num_attention_heads", 1, &t->num_attention_heads);
    if (!rc) rc = get_act(w, obj, "hidden_act", &t->hidden_act);
    if (!rc) rc = get_positive_real(w, obj, "layer_norm_eps", &t->layer_norm_eps);
    if (!rc) rc = get_int(w, obj, "projection_dim", 1, &t->projection_dim);
    if (is_text) {
        if (!rc) rc = get_int(w, obj, "vocab_size", 1, &t->vocab_size);
        if (!rc) rc = get_int(w, obj, "max_position_embeddings", 1, &t->max_position_embeddings);
        if (!rc) rc = get_int(w, obj, "bos_token_id", 0, &t->bos_token_id);
        if (!rc) rc = get_int(w, obj, "eos_token_id", 0, &t->eos_token_id);
        if (!rc) rc = get_int(w, obj, "pad_token_id", 0, &t->pad_token_id);
    } else {
        if (!rc) rc = get_int(w, obj, "image_size", 1, &t->image_size);
        if (!rc) rc = get_int(w, obj, "patch_size", 1, &t->patch_size);
        if (!rc) rc = get_int(w, obj, "num_channels", 1, &t->num_channels);
    }
    return rc;
}

/* The tower object under key (or its legacy "<key>_dict"); NULL when absent (defaults apply). */
static int tower_object(const char *label, const json_t *root, const char *key, const json_t **out)
{
    char legacy[64];
    snprintf(legacy, sizeof legacy, "%s_dict", key);
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) v = json_object_get(root, legacy);
    if (v && json_is_null(v)) v = NULL;
    if (v && !json_is_object(v))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: expected an object, got %s", label, key, type_name(v));
    *out = v;
    return MVLA_OK;
}

int clip_config_parse(ClipConfig *c, const char *json_text, const char *label)
{
    clip_config_default(c);
    if (!label) label = "config.json";
    json_error_t err;
    json_t *root = json_loads(json_text ? json_text : "", 0, &err);
    if (!root) return mvla_fail(MVLA_ERR_FORMAT, "%s: line %d: invalid JSON: %s", label, err.line, err.text);
    int rc = MVLA_OK;
    if (!json_is_object(root)) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object at the top level, got %s", label, type_name(root));
        goto done;
    }
    const json_t *mt = json_object_get(root, "model_type");
    const char *model_type = json_is_string(mt) ? json_string_value(mt) : "clip";
    if (mt && !json_is_string(mt)) {
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: model_type: expected a string, got %s", label, type_name(mt));
        goto done;
    }
    Where top = {label, ""};
    if (strcmp(model_type, "clip") == 0) {
        const json_t *text = NULL, *vision = NULL;
        rc = tower_object(label, root, "text_config", &text);
        if (!rc) rc = tower_object(label, root, "vision_config", &vision);
        Where wt = {label, "text_config"}, wv = {label, "vision_config"};
        if (!rc && text) rc = parse_tower(&wt, text, &c->text, 1);
        if (!rc && vision) rc = parse_tower(&wv, vision, &c->vision, 0);
        if (!rc) rc = get_int(&top, root, "projection_dim", 1, &c->projection_dim);
        if (!rc) rc = get_real(&top, root, "logit_scale_init_value", &c->logit_scale_init_value);
        c->towers = CLIP_TOWERS_BOTH;
    } else if (strcmp(model_type, "clip_vision_model") == 0) {
        rc = parse_tower(&top, root, &c->vision, 0);
        c->towers = CLIP_TOWER_VISION;
        c->projection_dim = c->vision.projection_dim;
    } else if (strcmp(model_type, "clip_text_model") == 0) {
        rc = parse_tower(&top, root, &c->text, 1);
        c->towers = CLIP_TOWER_TEXT;
        c->projection_dim = c->text.projection_dim;
    } else {
        rc = mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: model_type: expected \"clip\", \"clip_vision_model\" or "
                       "\"clip_text_model\", got \"%.60s\"", label, model_type);
    }
    if (!rc) rc = clip_config_check(c, label);
done:
    json_decref(root);
    return rc;
}

int clip_config_load(ClipConfig *c, const char *path)
{
    char buf[4096];
    struct stat sb;
    if (path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(buf, sizeof buf, "%s/config.json", path);
        path = buf;
    }
    char *text = NULL;
    size_t size = 0;
    int rc = file_read_all(path ? path : "", &text, &size);
    if (rc) {
        clip_config_default(c);
        return rc;
    }
    rc = clip_config_parse(c, text, path);
    free(text);
    return rc;
}

static int check_tower(const ClipTowerConfig *t, const char *label, const char *obj, int is_text)
{
    if (t->hidden_size % t->num_attention_heads)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: %s.hidden_size %d: expected a multiple of num_attention_heads %d", label,
                         obj, t->hidden_size, t->num_attention_heads);
    if (!is_text && t->patch_size > t->image_size)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: %s.patch_size %d: expected at most image_size %d", label, obj,
                         t->patch_size, t->image_size);
    if (!is_text && (long)(t->image_size / t->patch_size) * (t->image_size / t->patch_size) + 1 > (1L << 20))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: %s: image_size %d / patch_size %d: expected at most 2^20 patches",
                         label, obj, t->image_size, t->patch_size);
    if (is_text && t->eos_token_id >= t->vocab_size && t->eos_token_id != 2)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: %s.eos_token_id %d: expected below vocab_size %d", label, obj,
                         t->eos_token_id, t->vocab_size);
    return MVLA_OK;
}

int clip_config_check(const ClipConfig *c, const char *label)
{
    int rc = MVLA_OK;
    const char *single = c->towers == CLIP_TOWERS_BOTH ? NULL : "";
    if (c->towers & CLIP_TOWER_TEXT) rc = check_tower(&c->text, label, single ? "" : "text_config", 1);
    if (!rc && (c->towers & CLIP_TOWER_VISION)) rc = check_tower(&c->vision, label, single ? "" : "vision_config", 0);
    if (!rc && c->projection_dim < 1)
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: projection_dim %d: expected >= 1", label, c->projection_dim);
    return rc;
}

/* ---- writing ---- */

static json_t *tower_json(const ClipTowerConfig *t, int is_text)
{
    json_t *o = json_object();
    json_object_set_new(o, "model_type", json_string(is_text ? "clip_text_model" : "clip_vision_model"));
    json_object_set_new(o, "hidden_size", json_integer(t->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(t->intermediate_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(t->num_hidden_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(t->num_attention_heads));
    json_object_set_new(o, "hidden_act", json_string(mlp_act_name(t->hidden_act)));
    json_object_set_new(o, "layer_norm_eps", json_real(t->layer_norm_eps));
    json_object_set_new(o, "projection_dim", json_integer(t->projection_dim));
    if (is_text) {
        json_object_set_new(o, "vocab_size", json_integer(t->vocab_size));
        json_object_set_new(o, "max_position_embeddings", json_integer(t->max_position_embeddings));
        json_object_set_new(o, "bos_token_id", json_integer(t->bos_token_id));
        json_object_set_new(o, "eos_token_id", json_integer(t->eos_token_id));
        json_object_set_new(o, "pad_token_id", json_integer(t->pad_token_id));
    } else {
        json_object_set_new(o, "image_size", json_integer(t->image_size));
        json_object_set_new(o, "patch_size", json_integer(t->patch_size));
        json_object_set_new(o, "num_channels", json_integer(t->num_channels));
    }
    return o;
}

char *clip_config_to_json(const ClipConfig *c)
{
    json_t *root;
    if (c->towers == CLIP_TOWER_VISION || c->towers == CLIP_TOWER_TEXT) {
        int is_text = c->towers == CLIP_TOWER_TEXT;
        root = tower_json(is_text ? &c->text : &c->vision, is_text);
    } else {
        root = json_object();
        json_object_set_new(root, "architectures", json_pack("[s]", "CLIPModel"));
        json_object_set_new(root, "model_type", json_string("clip"));
        json_object_set_new(root, "projection_dim", json_integer(c->projection_dim));
        json_object_set_new(root, "logit_scale_init_value", json_real(c->logit_scale_init_value));
        json_object_set_new(root, "text_config", tower_json(&c->text, 1));
        json_object_set_new(root, "vision_config", tower_json(&c->vision, 0));
    }
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return s;
}

int clip_vision_tokens(const ClipTowerConfig *v)
{
    int g = v->image_size / v->patch_size;
    return g * g + 1;
}
