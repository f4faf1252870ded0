#include "nn/checkpoint.h"

#include "base/error.h"
#include "io/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_STEP "mvla.step"
#define KEY_OPTIM "mvla.optim"
#define KEY_META "mvla.metadata"

/* "optim.<param>.<slot>" into buf; fails on a name too long to be sensible. */
static int state_name(char *buf, size_t n, const char *param, const char *slot)
{
    int len = snprintf(buf, n, "optim.%s.%s", param, slot);
    if (len < 0 || (size_t)len >= n) return mvla_fail(MVLA_ERR_ARG, "checkpoint: parameter name %s is too long", param);
    return MVLA_OK;
}

/* opt must cover exactly params' tensors, in order. */
static int check_opt_params(const char *fn, const char *path, const ParamList *params, const Optimizer *opt)
{
    const ParamList *op = optim_params(opt);
    int same = op->count == params->count;
    for (int i = 0; same && i < params->count; i++) same = op->items[i].tensor == params->items[i].tensor;
    if (!same)
        return mvla_fail(MVLA_ERR_ARG, "%s %s: the optimiser was not built on this parameter list (%d vs %d parameters)",
                         fn, path, op->count, params->count);
    for (int i = 0; i < params->count; i++)
        for (int s = 0; s < optim_state_slots(opt); s++)
            if (!optim_state(opt, i, s) && params->items[i].tensor->numel > 0)
                return mvla_fail(MVLA_ERR_ARG, "%s %s: the optimiser has no state for parameter %s (added after optim_new?)",
                                 fn, path, params->items[i].name);
    return MVLA_OK;
}

/* The "mvla.optim" JSON text (malloc'd), or NULL with the message set. */
static char *optim_json(const Optimizer *opt)
{
    const OptimConfig *c = optim_config(opt);
    json_t *groups = json_array();
    for (int i = 0; groups && i < optim_group_count(opt); i++)
        json_array_append_new(groups, json_pack("{s:s, s:f, s:f}", "prefix", optim_group_prefix(opt, i), "lr_scale",
                                                (double)optim_group_lr_scale(opt, i), "weight_decay",
                                                (double)optim_group_weight_decay(opt, i)));
    json_t *root = json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:o}", "kind",
                             optim_kind_name(optim_kind(opt)), "t", (json_int_t)optim_t(opt), "lr", (double)c->lr,
                             "beta1", (double)c->beta1, "beta2", (double)c->beta2, "eps", (double)c->eps, "weight_decay",
                             (double)c->weight_decay, "momentum", (double)c->momentum, "nesterov", c->nesterov, "groups",
                             groups);
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!s) mvla_fail(MVLA_ERR_NOMEM, "checkpoint: out of memory describing the optimiser");
    return s;
}

int checkpoint_save(const char *path, const ParamList *params, const Optimizer *opt, long step, const char *metadata_json)
{
    if (!path || !params) return mvla_fail(MVLA_ERR_ARG, "checkpoint_save: no path or no parameter list");
    if (opt && check_opt_params("checkpoint_save", path, params, opt)) return MVLA_ERR_ARG;
    if (metadata_json) {
        json_error_t err;
        json_t *j = json_loads(metadata_json, JSON_DECODE_ANY, &err);
        if (!j)
            return mvla_fail(MVLA_ERR_ARG, "checkpoint_save %s: metadata is not valid JSON (line %d: %s)", path, err.line,
                             err.text);
        json_decref(j);
    }

    StWriter *w = st_writer_new();
    if (!w) return mvla_fail(MVLA_ERR_NOMEM, "checkpoint_save %s: out of memory", path);
    int rc = MVLA_OK;
    for (int i = 0; !rc && i < params->count; i++) rc = st_writer_add_tensor(w, params->items[i].name, params->items[i].tensor);
    char name[512], num[32];
    for (int i = 0; opt && !rc && i < params->count; i++) {
        const Tensor *t = params->items[i].tensor;
        int64_t shape[TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        for (int s = 0; !rc && s < optim_state_slots(opt); s++) {
            rc = state_name(name, sizeof name, params->items[i].name, optim_state_slot_name(opt, s));
            if (!rc) rc = st_writer_add(w, name, ST_F32, t->ndim, shape, optim_state(opt, i, s));
        }
    }
    snprintf(num, sizeof num, "%ld", step);
    if (!rc) rc = st_writer_set_metadata(w, KEY_STEP, num);
    if (!rc && opt) {
        char *js = optim_json(opt);
        rc = js ? st_writer_set_metadata(w, KEY_OPTIM, js) : MVLA_ERR_NOMEM;
        free(js);
    }
    if (!rc && metadata_json) rc = st_writer_set_metadata(w, KEY_META, metadata_json);
    if (!rc) rc = st_writer_save(w, path);
    st_writer_free(w);
    if (rc) return mvla_fail(rc, "checkpoint_save: %s", mvla_error_message());
    return MVLA_OK;
}

/* Finds `name` and checks it has t's shape and a dtype that converts to fp32. */
static const StTensor *find_matching(const SafeTensors *st, const char *name, const Tensor *t)
{
    const StTensor *f = st_find(st, name);
    if (!f) {
        mvla_fail(MVLA_ERR_FORMAT, "checkpoint %s: tensor %s is missing", st_path(st), name);
        return NULL;
    }
    int same = f->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = f->shape[d] == t->shape[d];
    if (!same) {
        char fs[160], ts[96];
        int at = snprintf(fs, sizeof fs, "[");
        for (int d = 0; d < f->ndim && at < (int)sizeof fs - 24; d++)
            at += snprintf(fs + at, sizeof fs - (size_t)at, "%s%lld", d ? ", " : "", (long long)f->shape[d]);
        snprintf(fs + at, sizeof fs - (size_t)at, "]");
        mvla_fail(MVLA_ERR_ARG, "checkpoint %s: tensor %s has shape %s in the file, expected %s", st_path(st), name, fs,
                  tensor_shape_str(t, ts, sizeof ts));
        return NULL;
    }
    if (f->dtype == ST_BOOL || st_dtype_size(f->dtype) == 0) {
        mvla_fail(MVLA_ERR_UNSUPPORTED, "checkpoint %s: tensor %s has dtype %s, expected a number type", st_path(st), name,
                  st_dtype_name(f->dtype));
        return NULL;
    }
    return f;
}

/* Parses "mvla.optim" and checks its kind against opt; *t receives the update count. */
static int read_optim_meta(const SafeTensors *st, const Optimizer *opt, long *t)
{
    const char *text = st_metadata(st, KEY_OPTIM);
    if (!text) return mvla_fail(MVLA_ERR_FORMAT, "checkpoint %s: no optimiser state (metadata %s)", st_path(st), KEY_OPTIM);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    const char *kind = NULL;
    json_int_t count = -1;
    if (!root || json_unpack(root, "{s:s, s:I}", "kind", &kind, "t", &count) || count < 0) {
        json_decref(root);
        return mvla_fail(MVLA_ERR_FORMAT, "checkpoint %s: metadata %s: expected {\"kind\": string, \"t\": integer >= 0}",
                         st_path(st), KEY_OPTIM);
    }
    int rc = MVLA_OK;
    if (optim_kind_from_name(kind) != (int)optim_kind(opt))
        rc = mvla_fail(MVLA_ERR_ARG, "checkpoint %s: optimiser state is for %s, the optimiser is %s", st_path(st), kind,
                       optim_kind_name(optim_kind(opt)));
    json_decref(root);
    *t = (long)count;
    return rc;
}

static int read_step(const SafeTensors *st, long *step)
{
    const char *text = st_metadata(st, KEY_STEP);
    if (!text) return mvla_fail(MVLA_ERR_FORMAT, "checkpoint %s: no step count (metadata %s)", st_path(st), KEY_STEP);
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end)
        return mvla_fail(MVLA_ERR_FORMAT, "checkpoint %s: metadata %s is \"%s\", expected an integer", st_path(st), KEY_STEP,
                         text);
    *step = v;
    return MVLA_OK;
}

int checkpoint_load(const char *path, ParamList *params, Optimizer *opt, long *step, char **metadata_json)
{
    if (metadata_json) *metadata_json = NULL;
    if (!path || !params) return mvla_fail(MVLA_ERR_ARG, "checkpoint_load: no path or no parameter list");
    if (opt && check_opt_params("checkpoint_load", path, params, opt)) return MVLA_ERR_ARG;
    SafeTensors *st = NULL;
    int rc = st_open(&st, path);
    if (rc) return rc;

    /* pass 1: find and check everything */
    int slots = opt ? optim_state_slots(opt) : 0;
    const StTensor **found = calloc((size_t)params->count * (size_t)(1 + slots) + 1, sizeof *found);
    long t = 0, file_step = 0;
    char *meta = NULL;
    if (!found) rc = mvla_fail(MVLA_ERR_NOMEM, "checkpoint_load %s: out of memory", path);
    if (!rc && opt) rc = read_optim_meta(st, opt, &t);
    for (int i = 0; !rc && i < params->count; i++) {
        const Tensor *p = params->items[i].tensor;
        if (!(found[i * (1 + slots)] = find_matching(st, params->items[i].name, p))) rc = MVLA_ERR_FORMAT;
        char name[512];
        for (int s = 0; !rc && s < slots; s++) {
            rc = state_name(name, sizeof name, params->items[i].name, optim_state_slot_name(opt, s));
            if (!rc && !(found[i * (1 + slots) + 1 + s] = find_matching(st, name, p))) rc = MVLA_ERR_FORMAT;
        }
    }
    if (!rc && step) rc = read_step(st, &file_step);
    if (!rc && metadata_json && st_metadata(st, KEY_META)) {
        meta = strdup(st_metadata(st, KEY_META));
        if (!meta) rc = mvla_fail(MVLA_ERR_NOMEM, "checkpoint_load %s: out of memory", path);
    }

    /* pass 2: copy */
    for (int i = 0; !rc && i < params->count; i++) {
        rc = st_to_f32(found[i * (1 + slots)], params->items[i].tensor->data);
        for (int s = 0; !rc && s < slots; s++) rc = st_to_f32(found[i * (1 + slots) + 1 + s], optim_state(opt, i, s));
    }
    if (!rc) {
        if (opt) optim_set_t(opt, t);
        if (step) *step = file_step;
        if (metadata_json) *metadata_json = meta;
    } else {
        free(meta);
    }
    free(found);
    st_close(st);
    return rc;
}
