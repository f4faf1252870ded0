/* The CLIP head's configuration: defaults, JSON in and out, checks (see clip_policy.h). */
#include "models/clip_policy.h"

#include "base/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const FUSION_NAMES[] = {"concat", "clip_norm", NULL};
static const char *const HEAD_NAMES[] = {"mlp", "lstm", NULL};

const char *clip_fusion_name(ClipFusion f) { return (unsigned)f < 2 ? FUSION_NAMES[f] : "?"; }
const char *clip_head_name(ClipHeadKind k) { return (unsigned)k < 2 ? HEAD_NAMES[k] : "?"; }

void clip_policy_config_default(ClipPolicyConfig *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "clip");
    c->fusion = CLIP_FUSION_CONCAT;
    c->feature_dim = 256;
    c->dropout = 0.1;
    c->head.kind = CLIP_HEAD_LSTM;
    c->head.window = 8, c->head.hidden = 256, c->head.layers = 1;
    c->resampler.latents = 16, c->resampler.depth = 2, c->resampler.heads = 4, c->resampler.dim_head = 32;
    c->resampler.ff_mult = 2, c->resampler.dim = 128;
    student_config_default(&c->act);
    /* the seed's CLIP systems regressed continuous actions; the student's default may differ */
    c->act.action.kind = ACTION_CONTINUOUS;
    c->act.action.loss = LOSS_L1;
}

/* ---- reading ---- */

static int bad(const char *label, const char *key, const char *want, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char got[64];
    snprintf(got, sizeof got, "%s", s ? s : "?");
    free(s);
    return mvla_fail(MVLA_ERR_ARG, "%s.%s: expected %s, got %s", label, key, want, got);
}

static int check_keys(const json_t *o, const char *const *allowed, const char *label)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (ok) continue;
        char list[400] = "";
        for (int i = 0; allowed[i]; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", allowed[i]);
        }
        return mvla_fail(MVLA_ERR_ARG, "%s.%s: unknown key (expected one of: %s)", label, key, list);
    }
    return 0;
}

static int get_int(const json_t *o, const char *key, int lo, int hi, int *out, const char *label)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char want[64];
    snprintf(want, sizeof want, "an integer in %d..%d", lo, hi);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return bad(label, key, want, v);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *o, const char *key, int *out, const char *label)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return bad(label, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

static int get_str(const json_t *o, const char *key, char *out, size_t n, const char *label)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char want[64];
    snprintf(want, sizeof want, "a string of at most %zu bytes", n - 1);
    if (!json_is_string(v) || json_string_length(v) >= n) return bad(label, key, want, v);
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}

static int get_choice(const json_t *o, const char *key, const char *const *names, int *out, const char *label)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    for (int i = 0; json_is_string(v) && names[i]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = i;
            return 0;
        }
    char want[128] = "one of";
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s \"%s\"", i ? "," : "", names[i]);
    }
    return bad(label, key, want, v);
}

static int get_object(const json_t *o, const char *key, const json_t **out, const char *label)
{
    json_t *v = json_object_get(o, key);
    *out = v;
    if (v && !json_is_object(v)) return bad(label, key, "an object", v);
    return 0;
}

/* The student's action section, parsed (and validated) by the student's own parser. */
static int parse_action(ClipPolicyConfig *c, const json_t *a, const char *label)
{
    json_t *cur = clip_policy_config_to_json(c), *wrap = json_object();
    json_t *merged = json_deep_copy(json_object_get(cur, "action"));
    json_decref(cur);
    if (!merged || !wrap) {
        json_decref(merged), json_decref(wrap);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    }
    json_object_update(merged, (json_t *)a);
    json_object_set_new(wrap, "action", merged);
    char *text = json_dumps(wrap, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(wrap);
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", label);
    StudentConfig s;
    int rc = student_config_parse(&s, text, label);
    free(text);
    if (!rc) c->act.action = s.action;
    return rc;
}

int clip_policy_config_from_json(ClipPolicyConfig *c, const json_t *o, const char *label)
{
    static const char *const keys[] = {"name", "backbone", "image_size", "embed_dim", "token_count", "token_dim", "fusion",
                                       "feature_dim", "dropout", "head", "resampler", "copies", "action", NULL};
    static const char *const head_keys[] = {"kind", "window", "hidden", "layers", NULL};
    static const char *const rs_keys[] = {"enabled", "latents", "depth", "heads", "dim_head", "ff_mult", "dim", NULL};
    if (!json_is_object(o)) return mvla_fail(MVLA_ERR_ARG, "%s: expected an object", label);
    int rc = check_keys(o, keys, label), fusion = (int)c->fusion, kind = (int)c->head.kind;
    if (!rc) rc = get_str(o, "name", c->name, sizeof c->name, label);
    if (!rc) rc = get_str(o, "backbone", c->backbone, sizeof c->backbone, label);
    if (!rc) rc = get_int(o, "image_size", 0, 16384, &c->image_size, label);
    if (!rc) rc = get_int(o, "embed_dim", 0, 1 << 16, &c->embed_dim, label);
    if (!rc) rc = get_int(o, "token_count", 0, 1 << 20, &c->token_count, label);
    if (!rc) rc = get_int(o, "token_dim", 0, 1 << 16, &c->token_dim, label);
    if (!rc) rc = get_choice(o, "fusion", FUSION_NAMES, &fusion, label);
    c->fusion = (ClipFusion)fusion;
    if (!rc) rc = get_int(o, "feature_dim", 8, 4096, &c->feature_dim, label);
    json_t *dr = json_object_get(o, "dropout");
    if (!rc && dr) {
        double d = json_is_number(dr) ? json_number_value(dr) : -1;
        if (!(d >= 0 && d <= 0.9)) rc = bad(label, "dropout", "a number in [0, 0.9]", dr);
        else c->dropout = d;
    }
    const json_t *h = NULL, *r = NULL, *a = NULL;
    char sub[600];
    if (!rc) rc = get_object(o, "head", &h, label);
    if (!rc && h) {
        snprintf(sub, sizeof sub, "%s.head", label);
        rc = check_keys(h, head_keys, sub);
        if (!rc) rc = get_choice(h, "kind", HEAD_NAMES, &kind, sub);
        c->head.kind = (ClipHeadKind)kind;
        if (!rc) rc = get_int(h, "window", 1, 64, &c->head.window, sub);
        if (!rc) rc = get_int(h, "hidden", 8, 4096, &c->head.hidden, sub);
        if (!rc) rc = get_int(h, "layers", 1, LSTM_MAX_LAYERS, &c->head.layers, sub);
    }
    if (!rc) rc = get_object(o, "resampler", &r, label);
    if (!rc && r) {
        snprintf(sub, sizeof sub, "%s.resampler", label);
        rc = check_keys(r, rs_keys, sub);
        if (!rc) rc = get_bool(r, "enabled", &c->resampler.enabled, sub);
        if (!rc) rc = get_int(r, "latents", 1, 1024, &c->resampler.latents, sub);
        if (!rc) rc = get_int(r, "depth", 1, RESAMPLER_MAX_DEPTH, &c->resampler.depth, sub);
        if (!rc) rc = get_int(r, "heads", 1, 64, &c->resampler.heads, sub);
        if (!rc) rc = get_int(r, "dim_head", 1, 512, &c->resampler.dim_head, sub);
        if (!rc) rc = get_int(r, "ff_mult", 1, 16, &c->resampler.ff_mult, sub);
        if (!rc) rc = get_int(r, "dim", 8, 4096, &c->resampler.dim, sub);
    }
    if (!rc) rc = get_int(o, "copies", 0, 64, &c->copies, label);
    if (!rc) rc = get_object(o, "action", &a, label);
    if (!rc && a) rc = parse_action(c, a, label);
    if (!rc) rc = clip_policy_config_validate(c, 0, label);
    return rc;
}

int clip_policy_config_validate(const ClipPolicyConfig *c, int with_shapes, const char *label)
{
    if (c->head.kind == CLIP_HEAD_MLP && c->head.window != 1)
        return mvla_fail(MVLA_ERR_ARG, "%s.head.window %d: the \"mlp\" head sees the current frame only: expected 1",
                         label, c->head.window);
    if (c->act.action.ensemble)
        return mvla_fail(MVLA_ERR_ARG, "%s.action.ensemble: temporal ensembling is not supported by the CLIP heads: "
                         "expected false", label);
    if (with_shapes && (c->image_size < 1 || c->embed_dim < 1 || c->token_count < 1 || c->token_dim < 1))
        return mvla_fail(MVLA_ERR_ARG, "%s: the backbone's shapes (image_size, embed_dim, token_count, token_dim) are "
                         "not set: expected a backbone (mvla train --backbone FOLDER)", label);
    return 0;
}

int clip_policy_config_set_backbone(ClipPolicyConfig *c, const ClipBackbone *b, const char *label)
{
    const int want[4] = {clip_backbone_image_size(b), clip_backbone_embed_dim(b), clip_backbone_tokens(b),
                         clip_backbone_token_dim(b)};
    int *have[4] = {&c->image_size, &c->embed_dim, &c->token_count, &c->token_dim};
    static const char *const names[4] = {"image_size", "embed_dim", "token_count", "token_dim"};
    for (int i = 0; i < 4; i++)
        if (*have[i] && *have[i] != want[i])
            return mvla_fail(MVLA_ERR_ARG, "%s.%s %d: the backbone %s has %d: expected the backbone the head was made "
                             "for", label, names[i], *have[i], b->path, want[i]);
    for (int i = 0; i < 4; i++) *have[i] = want[i];
    return 0;
}

/* ---- writing ---- */

json_t *clip_policy_config_to_json(const ClipPolicyConfig *c)
{
    char *st = student_config_to_json(&c->act);
    json_t *sj = st ? json_loads(st, 0, NULL) : NULL;
    free(st);
    json_t *act = sj ? json_incref(json_object_get(sj, "action")) : NULL;
    json_decref(sj);
    if (!act) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "backbone", json_string(c->backbone));
    json_object_set_new(o, "image_size", json_integer(c->image_size));
    json_object_set_new(o, "embed_dim", json_integer(c->embed_dim));
    json_object_set_new(o, "token_count", json_integer(c->token_count));
    json_object_set_new(o, "token_dim", json_integer(c->token_dim));
    json_object_set_new(o, "fusion", json_string(clip_fusion_name(c->fusion)));
    json_object_set_new(o, "feature_dim", json_integer(c->feature_dim));
    json_object_set_new(o, "dropout", json_real(c->dropout));
    json_object_set_new(o, "head", json_pack("{s:s, s:i, s:i, s:i}", "kind", clip_head_name(c->head.kind), "window",
                                             c->head.window, "hidden", c->head.hidden, "layers", c->head.layers));
    json_object_set_new(o, "resampler",
                        json_pack("{s:b, s:i, s:i, s:i, s:i, s:i, s:i}", "enabled", c->resampler.enabled, "latents",
                                  c->resampler.latents, "depth", c->resampler.depth, "heads", c->resampler.heads,
                                  "dim_head", c->resampler.dim_head, "ff_mult", c->resampler.ff_mult, "dim",
                                  c->resampler.dim));
    json_object_set_new(o, "copies", json_integer(c->copies));
    json_object_set_new(o, "action", act);
    return o;
}

void clip_policy_config_features(const ClipPolicyConfig *c, char *buf, int n)
{
    char aug[24] = "";
    if (c->copies) snprintf(aug, sizeof aug, " x%d aug", c->copies);
    snprintf(buf, (size_t)n, "clip %s W%d K%d %s %s%s%s", clip_head_name(c->head.kind), c->head.window,
             c->act.action.chunk, c->act.action.kind == ACTION_DISCRETE ? "discrete" : loss_kind_name(c->act.action.loss),
             clip_fusion_name(c->fusion),
             c->resampler.enabled ? " resampler" : "", aug);
}
