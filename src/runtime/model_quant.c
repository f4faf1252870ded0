/* Reading int8 model files: the "quantization" metadata, the quantised tensors, attaching the engine
 * (see model_quant.h). */
#include "runtime/model_quant.h"

#include "base/error.h"
#include "runtime/model_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void model_quant_free(ModelQuant *mq)
{
    for (int i = 0; i < mq->n; i++) {
        free(mq->names ? mq->names[i] : NULL);
        free(mq->q ? mq->q[i] : NULL);
        free(mq->scale ? mq->scale[i] : NULL);
    }
    free(mq->names), free(mq->w), free(mq->q), free(mq->scale), free(mq->weight_only);
    memset(mq, 0, sizeof *mq);
}

static int bad_field(const char *path, const char *field, const char *expected)
{
    return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: quantization.%s: expected %s", path, MODEL_META_KEY, field,
                     expected);
}

static int string_is(const json_t *v, const char *want) { return json_is_string(v) && !strcmp(json_string_value(v), want); }

int model_quant_parse(ModelQuant *mq, const json_t *q, const char *path)
{
    memset(mq, 0, sizeof *mq);
    if (!q || string_is(q, "none")) return 0;
    if (!json_is_object(q))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: metadata %s: quantization: expected \"none\" or an int8 object "
                         "(as `mvla quantize` writes)", path, MODEL_META_KEY);
    json_t *kind = json_object_get(q, "kind"), *tensors = json_object_get(q, "tensors"),
           *wo = json_object_get(q, "weight_only");
    if (!json_is_string(kind)) return bad_field(path, "kind", "a string (\"int8\")");
    if (!string_is(kind, "int8"))
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: metadata %s: quantization.kind \"%s\": this mvla runs \"int8\"",
                         path, MODEL_META_KEY, json_string_value(kind));
    if (!string_is(json_object_get(q, "weights"), QUANT_WEIGHTS))
        return bad_field(path, "weights", "\"" QUANT_WEIGHTS "\"");
    if (!string_is(json_object_get(q, "activations"), QUANT_ACTIVATIONS))
        return bad_field(path, "activations", "\"" QUANT_ACTIVATIONS "\"");
    if (!json_is_array(tensors) || json_array_size(tensors) < 1 || json_array_size(tensors) > 4096)
        return bad_field(path, "tensors", "a non-empty array of tensor names");
    if (wo && (!json_is_array(wo) || json_array_size(wo) > 4096))
        return bad_field(path, "weight_only", "an array of tensor names");
    int n_t = (int)json_array_size(tensors), n = n_t + (wo ? (int)json_array_size(wo) : 0);
    mq->names = calloc((size_t)n, sizeof *mq->names);
    mq->w = calloc((size_t)n, sizeof *mq->w);
    mq->q = calloc((size_t)n, sizeof *mq->q);
    mq->scale = calloc((size_t)n, sizeof *mq->scale);
    mq->weight_only = calloc((size_t)n, 1);
    if (!mq->names || !mq->w || !mq->q || !mq->scale || !mq->weight_only) {
        model_quant_free(mq);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    mq->n = n;
    mq->int8 = 1;
    for (int i = 0; i < n; i++) {
        const char *list = i < n_t ? "tensors" : "weight_only";
        json_t *v = json_array_get(i < n_t ? tensors : wo, (size_t)(i < n_t ? i : i - n_t));
        int rc = 0;
        mq->weight_only[i] = i >= n_t;
        if (!json_is_string(v)) rc = bad_field(path, list, "tensor names (strings)");
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(mq->names[j], json_string_value(v)))
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: quantization.%s: \"%s\" is listed twice", path,
                               MODEL_META_KEY, list, mq->names[j]);
        if (!rc && !(mq->names[i] = strdup(json_string_value(v)))) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        if (rc) {
            model_quant_free(mq);
            return rc;
        }
    }
    return 0;
}

/* st's tensor name + suffix, checked to be dtype with numel elements (a 1-D shape [numel]). */
static const StTensor *companion(const SafeTensors *st, const char *name, const char *suffix, StDtype dtype,
                                 long numel, const char *path, int *rc)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", name, suffix);
    const StTensor *t = st_find(st, full);
    if (!t) {
        *rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is missing: every quantised tensor needs its %s", path, full,
                        suffix + 1);
        return NULL;
    }
    if (t->dtype != dtype || t->ndim != 1 || t->shape[0] != numel) {
        *rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\": %s with %d dims (first %lld): expected %s [%ld]", path,
                        full, st_dtype_name(t->dtype), t->ndim, t->ndim ? (long long)t->shape[0] : 0LL,
                        st_dtype_name(dtype), numel);
        return NULL;
    }
    return t;
}

int model_quant_load(ModelQuant *mq, const SafeTensors *st, const char *name, Tensor *dst, const char *path)
{
    const StTensor *t = st_find(st, name);
    if (!t) return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is missing", path, name);
    int j = -1;
    for (int i = 0; i < mq->n && j < 0; i++)
        if (!strcmp(mq->names[i], name)) j = i;
    if (j < 0) {
        if (mq->int8 && t->dtype != ST_F32)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" is %s: expected F32 (only the tensors listed in "
                             "quantization.tensors and weight_only are quantised)", path, name, st_dtype_name(t->dtype));
        return st_load(st, name, dst);
    }
    int same = t->dtype == ST_I8 && t->ndim == dst->ndim && dst->ndim >= 1;
    for (int d = 0; same && d < dst->ndim; d++) same = t->shape[d] == dst->shape[d];
    if (!same) {
        char s[64];
        return mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" (listed in quantization.%s): %s with %d dims: "
                         "expected I8 %s", path, name, mq->weight_only[j] ? "weight_only" : "tensors",
                         st_dtype_name(t->dtype), t->ndim, tensor_shape_str(dst, s, sizeof s));
    }
    int rows = dst->shape[0], rc = 0;
    long cols = dst->numel / rows;
    const StTensor *ts = companion(st, name, "_scale", ST_F32, rows, path, &rc);
    const StTensor *tin = NULL, *tz = NULL;
    if (ts && !mq->weight_only[j]) {
        tin = companion(st, name, "_input_scale", ST_F32, 1, path, &rc);
        tz = tin ? companion(st, name, "_input_zero_point", ST_U8, 1, path, &rc) : NULL;
    }
    if (rc) return rc;
    int8_t *q = malloc((size_t)dst->numel);
    float *scale = malloc(sizeof(float) * (size_t)rows), in_scale = 1.0f;
    if (!q || !scale) {
        free(q), free(scale);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(q, t->data, (size_t)dst->numel);
    memcpy(scale, ts->data, sizeof(float) * (size_t)rows); /* safetensors data is little-endian, unaligned */
    if (tin) memcpy(&in_scale, tin->data, sizeof in_scale);
    for (int r = 0; r < rows && !rc; r++)
        if (!(scale[r] > 0) || !isfinite(scale[r]))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s_scale\"[%d] = %g: expected a finite scale > 0", path, name, r,
                           scale[r]);
    if (!rc && (!(in_scale > 0) || !isfinite(in_scale)))
        rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s_input_scale\" = %g: expected a finite scale > 0", path, name,
                       in_scale);
    for (long i = 0; i < dst->numel && !rc; i++)
        if (q[i] == -128)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: tensor \"%s\" element %ld is -128: expected -127..127 (symmetric)",
                           path, name, i);
    if (rc) {
        free(q), free(scale);
        return rc;
    }
    for (int r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++) dst->data[r * cols + c] = (float)q[r * cols + c] * scale[r];
    free(mq->q[j]), free(mq->scale[j]);
    mq->q[j] = q, mq->scale[j] = scale;
    mq->w[j] = (StudentQWeight){mq->names[j], q, scale, in_scale, tz ? *(const uint8_t *)tz->data : 0};
    return 0;
}

int model_quant_attach(ModelQuant *mq, StudentPolicy *p, const char *prefix, const char *path)
{
    size_t plen = strlen(prefix);
    if (!mq->int8) return 0;
    StudentQSite sites[STUDENT_INT8_MAX_SITES];
    int n_sites = student_int8_sites(p, sites, STUDENT_INT8_MAX_SITES), n = 0;
    StudentQWeight *w = malloc(sizeof *w * (size_t)mq->n);
    if (!w) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    int rc = 0;
    for (int i = 0; i < mq->n && !rc; i++) {
        if (!mq->q[i]) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata %s: quantization.%s: \"%s\" is not a parameter of this "
                           "architecture", path, MODEL_META_KEY, mq->weight_only[i] ? "weight_only" : "tensors",
                           mq->names[i]);
            break;
        }
        if (mq->weight_only[i] || strncmp(mq->names[i], prefix, plen)) continue;
        /* a quantised tensor the engine does not run (a newer quantiser?) keeps its dequantised fp32 weights */
        for (int s = 0; s < n_sites; s++)
            if (!strcmp(sites[s].name, mq->names[i] + plen)) {
                w[n] = mq->w[i];
                w[n++].name = sites[s].name;
            }
    }
    if (!rc && (rc = student_int8_attach(p, w, n))) rc = mvla_fail(rc, "%s: %s", path, mvla_error_message());
    free(w);
    return rc;
}
