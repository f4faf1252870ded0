/* Training configuration: presets, JSON parsing with key-naming errors, JSON output (see train_config.h). */
#include "train/train_config.h"

#include "base/error.h"
#include "base/file.h"
#include "sim/scene.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "tiny" preset, as a config over the student defaults: a 2-block encoder at 32x16 pixels. */
static const char TINY_PRESET[] =
    "{\"policy\": {\"name\": \"tiny\", \"feature_dim\": 32, \"dropout\": 0.0,"
    "  \"encoder\": {\"input_width\": 32, \"input_height\": 16, \"width_mult\": 1.0, \"stem_channels\": 8,"
    "    \"blocks\": [{\"kernel\": 3, \"expand\": 16, \"out\": 16, \"stride\": 2},"
    "                {\"kernel\": 3, \"expand\": 32, \"out\": 16, \"stride\": 1}],"
    "    \"final_channels\": 16},"
    "  \"instruction\": {\"vocab\": 256, \"max_tokens\": 32, \"dim\": 16, \"hidden\": 32, \"out_dim\": 16},"
    "  \"head\": {\"kind\": \"lstm\", \"window\": 3, \"hidden\": 32},"
    "  \"action\": {\"kind\": \"discrete\", \"chunk\": 2}},"
    " \"train\": {\"epochs\": 20, \"batch_size\": 8, \"lr\": 3e-3, \"warmup\": 0.05, \"clip\": 1.0, \"patience\": 0,"
    "  \"seq_len\": 2, \"seq_batch\": 4, \"augment\": \"off\"}}";

/* The CLIP presets (train_config.h): a "clip" section (src/models/clip_policy.h) and the head's training. */
#define CLIP_TRAIN_SETTINGS                                                                                    \
    "\"epochs\": 30, \"batch_size\": 32, \"lr\": 1e-3, \"weight_decay\": 1e-4, \"warmup\": 0.05, \"clip\": 1.0, " \
    "\"patience\": 5, \"batching\": \"window\""
#define CLIP_DATA_SETTINGS "\"data\": {\"crop\": \"center_crop\", \"filter\": \"bicubic\"}"
static const char CLIP_MLP_PRESET[] =
    "{\"clip\": {\"name\": \"clip-mlp\", \"head\": {\"kind\": \"mlp\", \"window\": 1}},"
    " \"train\": {" CLIP_TRAIN_SETTINGS ", \"augment\": \"off\"}, " CLIP_DATA_SETTINGS "}";
static const char CLIP_LSTM_PRESET[] =
    "{\"clip\": {\"name\": \"clip-lstm\", \"head\": {\"kind\": \"lstm\", \"window\": 8}},"
    " \"train\": {" CLIP_TRAIN_SETTINGS ", \"augment\": \"off\"}, " CLIP_DATA_SETTINGS "}";
static const char CLIP_AUG_PRESET[] =
    "{\"clip\": {\"name\": \"clip-aug\", \"head\": {\"kind\": \"mlp\", \"window\": 1}, \"copies\": 2},"
    " \"train\": {" CLIP_TRAIN_SETTINGS ", \"augment\": {\"rotate_deg\": 0, \"scale_min\": 1, \"scale_max\": 1,"
    "   \"translate\": 0, \"blur_prob\": 0, \"mirror_prob\": 0.5}}, " CLIP_DATA_SETTINGS "}";
static const char CLIP_RESAMPLER_PRESET[] =
    "{\"clip\": {\"name\": \"clip-resampler\", \"fusion\": \"clip_norm\", \"head\": {\"kind\": \"lstm\", \"window\": 8},"
    "   \"resampler\": {\"enabled\": true}},"
    " \"train\": {" CLIP_TRAIN_SETTINGS ", \"augment\": \"off\"}, " CLIP_DATA_SETTINGS "}";
#define PRESET_NAMES "\"student\", \"tiny\", \"clip-mlp\", \"clip-lstm\", \"clip-aug\" or \"clip-resampler\""

static void settings_default(TrainConfig *c)
{
    TrainSettings *t = &c->train;
    memset(t, 0, sizeof *t);
    t->epochs = 120, t->batch_size = 8; /* 2400 steps on 72 episodes, usually ended by early stopping */
    t->lr = 3e-3, t->min_lr = 1e-6;
    t->schedule = LR_WARMUP_COSINE;
    t->warmup = 0.03;
    t->weight_decay = 1e-4, t->beta1 = 0.9, t->beta2 = 0.999, t->eps = 1e-8, t->encoder_lr_scale = 1.0;
    t->clip = 0.5;
    t->patience = 15; /* the lateral keys are learned late: val MAE plateaus for ~10 epochs first */
    t->min_delta = 0;
    t->select = TRAIN_SELECT_VAL_MAE;
    t->select_rollouts = 4; /* 96 rollouts: with 48 the selected epoch's success overstated a fresh eval by ~8 points */
    t->select_from = 0.4;
    t->select_seed = 101;
    t->select_target = 0; /* cup, sim generate's default */
    t->seed = 0;
    t->log_every = 10;
    t->skip_start = 1;
    t->batching = TRAIN_BATCH_SEQUENCE;
    t->seq_len = 16;
    t->seq_batch = 4;
    t->augment_on = 1;
    augment_defaults(&t->augment);
    DataSettings *d = &c->data;
    memset(d, 0, sizeof *d);
    snprintf(d->lang, sizeof d->lang, "en");
    d->crop = CROP_STRETCH;
    d->filter = FILTER_AREA;
}

/* ---- helpers: each reads one optional key; errors name source, section and key ---- */

typedef struct {
    const char *src, *sec;
} Ctx;

static int bad(const Ctx *x, const char *key, const char *want, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char got[64];
    snprintf(got, sizeof got, "%s", s ? s : "?");
    if (s && strlen(s) >= sizeof got) strcpy(got + sizeof got - 4, "...");
    free(s);
    return mvla_fail(MVLA_ERR_ARG, "%s: %s.%s: expected %s, got %s", x->src, x->sec, key, want, got);
}

static int check_keys(const Ctx *x, const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (ok) continue;
        char list[600] = "";
        for (int i = 0; allowed[i]; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", allowed[i]);
        }
        return mvla_fail(MVLA_ERR_ARG, "%s: %s%s%s: unknown key (expected one of: %s)", x->src, x->sec,
                         *x->sec ? "." : "", key, list);
    }
    return 0;
}

static int get_int(const Ctx *x, const json_t *o, const char *key, long lo, long hi, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char want[96];
    snprintf(want, sizeof want, "an integer in %ld..%ld", lo, hi);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return bad(x, key, want, v);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A number in [lo, hi] ((lo, hi] when lo_open). */
static int get_num(const Ctx *x, const json_t *o, const char *key, double lo, int lo_open, double hi, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char want[96];
    snprintf(want, sizeof want, "a number in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < lo || (lo_open && d == lo) || d > hi) return bad(x, key, want, v);
    *out = d;
    return 0;
}

static int get_float(const Ctx *x, const json_t *o, const char *key, double lo, double hi, float *out)
{
    double d = *out;
    int rc = get_num(x, o, key, lo, 0, hi, &d);
    *out = (float)d;
    return rc;
}

static int get_bool(const Ctx *x, const json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return bad(x, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

static int get_str(const Ctx *x, const json_t *o, const char *key, char *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    char want[64];
    snprintf(want, sizeof want, "a string of at most %zu bytes", n - 1);
    if (!json_is_string(v) || json_string_length(v) >= n) return bad(x, key, want, v);
    snprintf(out, n, "%s", json_string_value(v));
    return 0;
}

/* A string that parse() turns into an enum; want lists the names. */
static int get_choice(const Ctx *x, const json_t *o, const char *key, const char *want, int (*parse)(const char *, int *),
                      int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_string(v) || parse(json_string_value(v), out)) return bad(x, key, want, v);
    return 0;
}

static int parse_schedule(const char *s, int *out) { return (*out = lr_schedule_kind_from_name(s)) < 0; }

static int parse_select(const char *s, int *out)
{
    *out = !strcmp(s, "val_mae") ? TRAIN_SELECT_VAL_MAE : !strcmp(s, "sim") ? TRAIN_SELECT_SIM : -1;
    return *out < 0;
}

static int parse_target(const char *s, int *out)
{
    *out = !strcmp(s, "mixed") ? -1 : sim_target_parse(s);
    return *out < 0 && strcmp(s, "mixed") != 0;
}

/* An optional seed: an integer in 0..2^53 (JSON numbers beyond are not exact). */
static int get_seed(const Ctx *x, const json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1LL << 53))
        return bad(x, key, "an integer in 0..2^53", v);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_batching(const char *s, int *out)
{
    *out = !strcmp(s, "sequence") ? TRAIN_BATCH_SEQUENCE : !strcmp(s, "window") ? TRAIN_BATCH_WINDOW : -1;
    return *out < 0;
}
static int parse_crop(const char *s, int *out)
{
    CropPolicy c;
    int rc = crop_parse(s, &c);
    *out = (int)c;
    mvla_error_clear();
    return rc;
}
static int parse_filter(const char *s, int *out)
{
    ResizeFilter f;
    int rc = filter_parse(s, &f);
    *out = (int)f;
    mvla_error_clear();
    return rc;
}
static int parse_lang(const char *s, int *out)
{
    *out = strcmp(s, "ko") == 0;
    return strcmp(s, "en") != 0 && strcmp(s, "ko") != 0;
}

static int parse_augment(const Ctx *x0, const json_t *v, TrainSettings *t)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "off") == 0) {
        t->augment_on = 0;
        augment_off(&t->augment);
        return 0;
    }
    t->augment_on = 1;
    augment_defaults(&t->augment);
    if (json_is_string(v) && strcmp(json_string_value(v), "default") == 0) return 0;
    if (!json_is_object(v)) return bad(x0, "augment", "\"default\", \"off\" or an object", v);
    static const char *const keys[] = {"rotate_deg", "scale_min", "scale_max", "translate", "brightness",
                                       "contrast", "saturation", "hue", "gamma", "noise_std", "blur_prob",
                                       "blur_sigma", "mirror_prob", NULL};
    Ctx x = {x0->src, "train.augment"};
    AugmentParams *a = &t->augment;
    int rc = check_keys(&x, v, keys);
    if (!rc) rc = get_float(&x, v, "rotate_deg", 0, 180, &a->rotate_deg);
    if (!rc) rc = get_float(&x, v, "scale_min", 0.1, 10, &a->scale_min);
    if (!rc) rc = get_float(&x, v, "scale_max", 0.1, 10, &a->scale_max);
    if (!rc) rc = get_float(&x, v, "translate", 0, 1, &a->translate);
    if (!rc) rc = get_float(&x, v, "brightness", 0, 1, &a->brightness);
    if (!rc) rc = get_float(&x, v, "contrast", 0, 1, &a->contrast);
    if (!rc) rc = get_float(&x, v, "saturation", 0, 1, &a->saturation);
    if (!rc) rc = get_float(&x, v, "hue", 0, 0.5, &a->hue);
    if (!rc) rc = get_float(&x, v, "gamma", 0, 0.99, &a->gamma);
    if (!rc) rc = get_float(&x, v, "noise_std", 0, 255, &a->noise_std);
    if (!rc) rc = get_float(&x, v, "blur_prob", 0, 1, &a->blur_prob);
    if (!rc) rc = get_float(&x, v, "blur_sigma", 0, 20, &a->blur_sigma);
    if (!rc) rc = get_float(&x, v, "mirror_prob", 0, 1, &a->mirror_prob);
    if (!rc && augment_validate(a))
        rc = mvla_fail(MVLA_ERR_ARG, "%s: train.augment: %s", x.src, mvla_error_message());
    return rc;
}

static int parse_init_parts(const char *s, int *out)
{
    if (strcmp(s, "all") && strcmp(s, "encoder")) return -1;
    *out = strcmp(s, "encoder") == 0;
    return 0;
}

static int parse_train(const Ctx *x0, const json_t *o, TrainSettings *t)
{
    static const char *const keys[] = {"epochs", "steps", "batch_size", "lr", "min_lr", "schedule", "warmup", "weight_decay",
                                       "beta1", "beta2", "eps", "encoder_lr_scale", "clip", "patience", "min_delta",
                                       "ema", "seed", "log_every", "skip_start", "batching", "seq_len", "seq_batch",
                                       "augment", "select", "select_rollouts", "select_from", "select_seed", "select_target",
                                       "init", "init_parts", NULL};
    Ctx x = {x0->src, "train"};
    int rc = check_keys(&x, o, keys), sched = (int)t->schedule;
    if (!rc) rc = get_int(&x, o, "epochs", 1, 100000, &t->epochs);
    int steps = (int)t->steps;
    if (!rc) rc = get_int(&x, o, "steps", 0, 100000000, &steps);
    t->steps = steps;
    if (!rc) rc = get_int(&x, o, "batch_size", 1, 4096, &t->batch_size);
    if (!rc) rc = get_num(&x, o, "lr", 0, 1, 1, &t->lr);
    if (!rc) rc = get_num(&x, o, "min_lr", 0, 0, 1, &t->min_lr);
    if (!rc) rc = get_choice(&x, o, "schedule", "one of \"cosine\", \"linear\", \"constant\"", parse_schedule, &sched);
    t->schedule = (LrScheduleKind)sched;
    if (!rc) rc = get_num(&x, o, "warmup", 0, 0, 0.5, &t->warmup);
    if (!rc) rc = get_num(&x, o, "weight_decay", 0, 0, 1, &t->weight_decay);
    if (!rc) rc = get_num(&x, o, "beta1", 0, 0, 0.9999, &t->beta1);
    if (!rc) rc = get_num(&x, o, "beta2", 0, 0, 0.99999, &t->beta2);
    if (!rc) rc = get_num(&x, o, "eps", 0, 1, 1, &t->eps);
    if (!rc) rc = get_num(&x, o, "encoder_lr_scale", 0, 0, 100, &t->encoder_lr_scale);
    if (!rc) rc = get_num(&x, o, "clip", 0, 0, 1e6, &t->clip);
    if (!rc) rc = get_int(&x, o, "patience", 0, 100000, &t->patience);
    if (!rc) rc = get_num(&x, o, "min_delta", 0, 0, 1e6, &t->min_delta);
    if (!rc) rc = get_num(&x, o, "ema", 0, 0, 0.99999, &t->ema);
    if (!rc) rc = get_choice(&x, o, "select", "one of \"val_mae\", \"sim\"", parse_select, &t->select);
    if (!rc) rc = get_int(&x, o, "select_rollouts", 1, 100, &t->select_rollouts);
    if (!rc) rc = get_num(&x, o, "select_from", 0, 0, 0.999, &t->select_from);
    if (!rc) rc = get_seed(&x, o, "select_seed", &t->select_seed);
    if (!rc) rc = get_choice(&x, o, "select_target", "one of \"cup\", \"bottle\", \"basket\", \"mixed\"",
                             parse_target, &t->select_target);
    if (!rc) rc = get_seed(&x, o, "seed", &t->seed);
    if (!rc) rc = get_int(&x, o, "log_every", 1, 100000, &t->log_every);
    if (!rc) rc = get_bool(&x, o, "skip_start", &t->skip_start);
    int batching = t->batching;
    if (!rc) rc = get_choice(&x, o, "batching", "one of \"sequence\", \"window\"", parse_batching, &batching);
    t->batching = batching;
    if (!rc) rc = get_int(&x, o, "seq_len", 1, 4096, &t->seq_len);
    if (!rc) rc = get_int(&x, o, "seq_batch", 1, 4096, &t->seq_batch);
    if (!rc) rc = get_str(&x, o, "init", t->init, sizeof t->init);
    if (!rc) rc = get_choice(&x, o, "init_parts", "\"all\" or \"encoder\"", parse_init_parts, &t->init_encoder_only);
    json_t *aug = json_object_get(o, "augment");
    if (!rc && aug) rc = parse_augment(&x, aug, t);
    if (!rc && t->min_lr > t->lr && !json_object_get(o, "min_lr"))
        t->min_lr = t->lr; /* the default floor is above a small lr: lower it */
    if (!rc && t->min_lr > t->lr)
        rc = mvla_fail(MVLA_ERR_ARG, "%s: train.min_lr: expected at most train.lr (%g), got %g", x.src, t->lr, t->min_lr);
    return rc;
}

static int parse_data(const Ctx *x0, const json_t *o, DataSettings *d)
{
    static const char *const keys[] = {"lang", "instructions", "instruction", "crop", "filter", NULL};
    Ctx x = {x0->src, "data"};
    int rc = check_keys(&x, o, keys), lang = strcmp(d->lang, "ko") == 0, crop = (int)d->crop, filter = (int)d->filter;
    if (!rc) rc = get_choice(&x, o, "lang", "\"en\" or \"ko\"", parse_lang, &lang);
    snprintf(d->lang, sizeof d->lang, "%s", lang ? "ko" : "en");
    if (!rc) rc = get_str(&x, o, "instructions", d->instructions, sizeof d->instructions);
    if (!rc) rc = get_str(&x, o, "instruction", d->instruction, sizeof d->instruction);
    if (!rc) rc = get_choice(&x, o, "crop", "one of \"stretch\", \"center_crop\", \"pad\"", parse_crop, &crop);
    if (!rc) rc = get_choice(&x, o, "filter", "\"area\" or \"bicubic\"", parse_filter, &filter);
    d->crop = (CropPolicy)crop;
    d->filter = (ResizeFilter)filter;
    return rc;
}

/* dst := dst merged with src: objects merge key by key (recursively), anything else replaces. */
static int merge_into(json_t *dst, json_t *src)
{
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v) {
        json_t *d = json_object_get(dst, key);
        if (json_is_object(d) && json_is_object(v)) {
            if (merge_into(d, v)) return -1;
        } else if (json_object_set(dst, key, v)) {
            return -1;
        }
    }
    return 0;
}

/* The JSON of a preset (a new reference), or NULL with an error for an unknown name. */
static json_t *preset_json(const char *name, const char *src)
{
    static const struct {
        const char *name, *text;
    } presets[] = {{"student", "{}"},           {"tiny", TINY_PRESET},           {"clip-mlp", CLIP_MLP_PRESET},
                   {"clip-lstm", CLIP_LSTM_PRESET}, {"clip-aug", CLIP_AUG_PRESET}, {"clip-resampler", CLIP_RESAMPLER_PRESET}};
    const char *text = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0] && !text; i++)
        if (strcmp(name, presets[i].name) == 0) text = presets[i].text;
    if (!text) {
        mvla_fail(MVLA_ERR_ARG, "%s: preset: expected " PRESET_NAMES ", got \"%s\"", src, name);
        return NULL;
    }
    json_t *j = json_loads(text, 0, NULL);
    if (!j) mvla_fail(MVLA_ERR_NOMEM, "%s: preset %s: cannot be read (out of memory?)", src, name);
    return j;
}

/* Parses a root object (already merged over its preset). */
static int parse_root(TrainConfig *c, json_t *root, const char *src)
{
    Ctx x = {src, ""};
    static const char *const keys[] = {"preset", "policy", "train", "data", "clip", NULL};
    int rc = check_keys(&x, root, keys);
    if (rc) return rc;
    json_t *pol = json_object_get(root, "policy"), *tr = json_object_get(root, "train"),
           *da = json_object_get(root, "data");
    if (pol && !json_is_object(pol)) return bad(&(Ctx){src, ""}, "policy", "an object", pol);
    if (tr && !json_is_object(tr)) return mvla_fail(MVLA_ERR_ARG, "%s: train: expected an object", src);
    if (da && !json_is_object(da)) return mvla_fail(MVLA_ERR_ARG, "%s: data: expected an object", src);
    char label[600];
    snprintf(label, sizeof label, "%s: policy", src);
    char *text = pol ? json_dumps(pol, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : strdup("{}");
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", src);
    rc = student_config_parse(&c->policy, text, label);
    free(text);
    if (!rc && tr) rc = parse_train(&x, tr, &c->train);
    if (!rc && da) rc = parse_data(&x, da, &c->data);
    json_t *cl = json_object_get(root, "clip");
    if (!rc && cl) {
        snprintf(label, sizeof label, "%s: clip", src);
        c->is_clip = 1;
        rc = clip_policy_config_from_json(&c->clip, cl, label);
        snprintf(c->policy.name, sizeof c->policy.name, "%s", c->clip.name); /* tables and curves read policy.name */
    }
    if (!rc && c->is_clip && c->train.select == TRAIN_SELECT_SIM)
        rc = mvla_fail(MVLA_ERR_ARG, "%s: train.select: \"sim\" is for the student; a CLIP head is selected by "
                       "\"val_mae\" (the simulator would run its backbone on every frame)", src);
    if (!rc && c->is_clip && c->train.init[0])
        rc = mvla_fail(MVLA_ERR_ARG, "%s: train.init: is for the student; a CLIP head trains on a frozen backbone", src);
    return rc;
}

int train_config_parse(TrainConfig *c, const char *json_text, const char *source)
{
    const char *src = source ? source : "config";
    memset(c, 0, sizeof *c);
    settings_default(c);
    student_config_default(&c->policy);
    clip_policy_config_default(&c->clip);
    snprintf(c->preset, sizeof c->preset, "student");
    json_error_t err;
    json_t *user = json_loads(json_text ? json_text : "", 0, &err);
    if (!user) return mvla_fail(MVLA_ERR_FORMAT, "%s: line %d: %s", src, err.line, err.text);
    if (!json_is_object(user)) {
        json_decref(user);
        return mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object", src);
    }
    json_t *p = json_object_get(user, "preset");
    if (p && (!json_is_string(p) || json_string_length(p) >= sizeof c->preset)) {
        int rc = bad(&(Ctx){src, ""}, "preset", PRESET_NAMES, p);
        json_decref(user);
        return rc;
    }
    if (p) snprintf(c->preset, sizeof c->preset, "%s", json_string_value(p));
    json_t *root = preset_json(c->preset, src);
    int rc = root ? 0 : MVLA_ERR_ARG;
    if (!rc && merge_into(root, user)) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", src);
    if (!rc) rc = parse_root(c, root, src);
    json_decref(root);
    json_decref(user);
    if (rc) {
        char keep[32];
        snprintf(keep, sizeof keep, "%s", c->preset);
        settings_default(c);
        student_config_default(&c->policy);
        c->is_clip = 0;
        clip_policy_config_default(&c->clip);
        snprintf(c->preset, sizeof c->preset, "%s", keep);
    }
    return rc;
}

int train_config_preset(TrainConfig *c, const char *name)
{
    char text[64];
    if (strlen(name) > 32 || strchr(name, '"') || strchr(name, '\\'))
        return mvla_fail(MVLA_ERR_ARG, "preset \"%s\": expected " PRESET_NAMES, name);
    snprintf(text, sizeof text, "{\"preset\": \"%s\"}", name);
    return train_config_parse(c, text, "preset");
}

int train_config_load(TrainConfig *c, const char *path)
{
    char *text;
    size_t n;
    int rc = file_read_all(path, &text, &n);
    if (rc) {
        memset(c, 0, sizeof *c);
        settings_default(c);
        student_config_default(&c->policy);
        clip_policy_config_default(&c->clip);
        return rc;
    }
    rc = train_config_parse(c, text, path);
    free(text);
    return rc;
}

static json_t *augment_json(const TrainSettings *t)
{
    if (!t->augment_on) return json_string("off");
    return augment_params_json(&t->augment);
}

char *train_config_to_json(const TrainConfig *c)
{
    char *pol_text = student_config_to_json(&c->policy);
    json_t *pol = pol_text ? json_loads(pol_text, 0, NULL) : NULL;
    free(pol_text);
    if (!pol) return NULL;
    const TrainSettings *t = &c->train;
    const DataSettings *d = &c->data;
    json_t *tr = json_object();
    json_object_set_new(tr, "epochs", json_integer(t->epochs));
    json_object_set_new(tr, "steps", json_integer(t->steps));
    json_object_set_new(tr, "batch_size", json_integer(t->batch_size));
    json_object_set_new(tr, "lr", json_real(t->lr));
    json_object_set_new(tr, "min_lr", json_real(t->min_lr));
    json_object_set_new(tr, "schedule", json_string(lr_schedule_kind_name(t->schedule)));
    json_object_set_new(tr, "warmup", json_real(t->warmup));
    json_object_set_new(tr, "weight_decay", json_real(t->weight_decay));
    json_object_set_new(tr, "beta1", json_real(t->beta1));
    json_object_set_new(tr, "beta2", json_real(t->beta2));
    json_object_set_new(tr, "eps", json_real(t->eps));
    json_object_set_new(tr, "encoder_lr_scale", json_real(t->encoder_lr_scale));
    json_object_set_new(tr, "clip", json_real(t->clip));
    json_object_set_new(tr, "patience", json_integer(t->patience));
    json_object_set_new(tr, "min_delta", json_real(t->min_delta));
    json_object_set_new(tr, "ema", json_real(t->ema));
    json_object_set_new(tr, "select", json_string(t->select == TRAIN_SELECT_SIM ? "sim" : "val_mae"));
    json_object_set_new(tr, "select_rollouts", json_integer(t->select_rollouts));
    json_object_set_new(tr, "select_from", json_real(t->select_from));
    json_object_set_new(tr, "select_seed", json_integer((json_int_t)t->select_seed));
    json_object_set_new(tr, "select_target", json_string(t->select_target < 0 ? "mixed" : sim_target_name((SimTarget)t->select_target)));
    json_object_set_new(tr, "seed", json_integer((json_int_t)t->seed));
    json_object_set_new(tr, "log_every", json_integer(t->log_every));
    json_object_set_new(tr, "skip_start", json_boolean(t->skip_start));
    json_object_set_new(tr, "batching", json_string(t->batching == TRAIN_BATCH_WINDOW ? "window" : "sequence"));
    json_object_set_new(tr, "seq_len", json_integer(t->seq_len));
    json_object_set_new(tr, "seq_batch", json_integer(t->seq_batch));
    json_object_set_new(tr, "augment", augment_json(t));
    json_object_set_new(tr, "init", json_string(t->init));
    json_object_set_new(tr, "init_parts", json_string(t->init_encoder_only ? "encoder" : "all"));
    json_t *da = json_pack("{s:s, s:s, s:s, s:s, s:s}", "lang", d->lang, "instructions", d->instructions,
                           "instruction", d->instruction, "crop", crop_name(d->crop), "filter", filter_name(d->filter));
    json_t *root = json_object();
    json_object_set_new(root, "preset", json_string(c->preset));
    if (c->is_clip) { /* a CLIP head: "policy" carries the name only */
        json_decref(pol);
        pol = json_pack("{s:s}", "name", c->policy.name);
        json_object_set_new(root, "clip", clip_policy_config_to_json(&c->clip));
    }
    json_object_set_new(root, "policy", pol);
    json_object_set_new(root, "train", tr);
    json_object_set_new(root, "data", da ? da : json_object());
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

void train_config_preprocess(const TrainConfig *c, Preprocess *p)
{
    preprocess_default(p);
    p->width = c->is_clip ? c->clip.image_size : c->policy.encoder.input_width;
    p->height = c->is_clip ? c->clip.image_size : c->policy.encoder.input_height;
    p->crop = c->data.crop;
    p->filter = c->data.filter;
}

void train_config_features(const TrainConfig *c, char *buf, int n)
{
    const StudentConfig *p = &c->policy;
    if (c->is_clip) {
        clip_policy_config_features(&c->clip, buf, n);
        return;
    }
    const char *init = !c->train.init[0] ? "" : c->train.init_encoder_only ? " init-encoder" : " init";
    snprintf(buf, (size_t)n, "%dx%d %s %s W%d K%d %s%s%s%s", p->encoder.input_width, p->encoder.input_height,
             fusion_kind_name(p->fusion), head_kind_name(p->head.kind), p->head.window, p->action.chunk,
             p->action.kind == ACTION_DISCRETE ? "discrete" : loss_kind_name(p->action.loss),
             c->train.augment_on ? " aug" : "", p->action.ensemble ? " ens" : "", init);
}
