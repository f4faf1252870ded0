/* The student policy as a runtime Policy (see student_adapter.h). */
#include "runtime/student_adapter.h"

#include "base/error.h"
#include "io/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    StudentPolicy model;     /* used when owned */
    StudentPolicy *p;
    StudentRunner *runner;
    Preprocess pre;
    uint8_t *rgb;            /* one preprocessed frame */
    PreprocessPlan plan;     /* resize tables for the frame size (built on the first step) */
    int owned;
} Adapter;

static void adapter_destroy(void *ctx)
{
    Adapter *a = ctx;
    if (!a) return;
    student_runner_free(a->runner);
    if (a->owned) student_free(&a->model);
    free(a->rgb);
    preprocess_plan_free(&a->plan);
    free(a);
}

static int adapter_reset(void *ctx, const char *instruction)
{
    Adapter *a = ctx;
    return student_runner_set_instruction(a->runner, instruction);
}

static int adapter_step(void *ctx, const uint8_t *frame, int width, int height, int channel_order, float action[3])
{
    Adapter *a = ctx;
    if (!frame || width < 1 || height < 1)
        return mvla_fail(MVLA_ERR_ARG, "policy %s: step: frame %dx%d: expected a non-empty image", a->p->cfg.name,
                         width, height);
    if (channel_order != POLICY_BGR && channel_order != POLICY_RGB)
        return mvla_fail(MVLA_ERR_ARG, "policy %s: step: channel order %d: expected POLICY_BGR or POLICY_RGB",
                         a->p->cfg.name, channel_order);
    int rc = preprocess_run(&a->plan, &a->pre, frame, width, height,
                            channel_order == POLICY_RGB ? PREPROCESS_RGB : PREPROCESS_BGR, a->rgb);
    if (rc) return rc;
    return student_runner_step_rgb(a->runner, a->rgb, action, NULL);
}

static int make(Policy *out, Adapter *a, const Preprocess *pre)
{
    const StudentConfig *c = &a->p->cfg;
    if (pre) {
        a->pre = *pre;
    } else {
        preprocess_default(&a->pre);
        a->pre.width = c->encoder.input_width;
        a->pre.height = c->encoder.input_height;
    }
    if (a->pre.width != c->encoder.input_width || a->pre.height != c->encoder.input_height)
        return mvla_fail(MVLA_ERR_ARG, "policy %s: preprocessing %dx%d: expected the policy's input size %dx%d", c->name,
                         a->pre.width, a->pre.height, c->encoder.input_width, c->encoder.input_height);
    int rc = preprocess_validate(&a->pre);
    if (rc) return rc;
    a->rgb = malloc((size_t)a->pre.width * a->pre.height * 3);
    if (!a->rgb) return mvla_fail(MVLA_ERR_NOMEM, "policy %s: out of memory", c->name);
    if (!(a->runner = student_runner_new(a->p))) return MVLA_ERR_NOMEM;
    memset(out, 0, sizeof *out);
    out->name = c->name;
    out->ctx = a;
    out->reset = adapter_reset;
    out->step = adapter_step;
    out->destroy = adapter_destroy;
    return 0;
}

int student_policy_wrap(Policy *out, StudentPolicy *p, const Preprocess *pre)
{
    memset(out, 0, sizeof *out);
    Adapter *a = calloc(1, sizeof *a);
    if (!a) return mvla_fail(MVLA_ERR_NOMEM, "policy: out of memory");
    a->p = p;
    int rc = make(out, a, pre);
    if (rc) {
        adapter_destroy(a);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int student_model_preprocess(const char *metadata_json, const StudentConfig *c, Preprocess *out, const char *source_name)
{
    const char *src = source_name ? source_name : "model";
    preprocess_default(out);
    out->width = c->encoder.input_width;
    out->height = c->encoder.input_height;
    json_t *root = metadata_json ? json_loads(metadata_json, 0, NULL) : NULL;
    json_t *p = json_object_get(root, "preprocess");
    int rc = 0;
    if (p) {
        json_t *w = json_object_get(p, "width"), *h = json_object_get(p, "height"), *crop = json_object_get(p, "crop"),
               *filter = json_object_get(p, "filter"), *ch = json_object_get(p, "channels");
        if (!json_is_integer(w) || !json_is_integer(h) || !json_is_string(crop) || !json_is_string(filter))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: preprocess: expected integers width, height and strings "
                           "crop, filter", src);
        else if (ch && (!json_is_string(ch) || strcmp(json_string_value(ch), "RGB") != 0))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: preprocess.channels: expected \"RGB\"", src);
        else if (json_integer_value(w) != c->encoder.input_width || json_integer_value(h) != c->encoder.input_height)
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: preprocess: %lldx%lld: expected the policy's input size %dx%d",
                           src, (long long)json_integer_value(w), (long long)json_integer_value(h),
                           c->encoder.input_width, c->encoder.input_height);
        else if (crop_parse(json_string_value(crop), &out->crop) || filter_parse(json_string_value(filter), &out->filter))
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: preprocess: %s", src, mvla_error_message());
    }
    json_decref(root);
    return rc;
}

int student_policy_open(Policy *out, const char *model_path)
{
    memset(out, 0, sizeof *out);
    Adapter *a = calloc(1, sizeof *a);
    if (!a) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", model_path);
    int rc = student_load(&a->model, model_path);
    if (rc) {
        free(a);
        return rc;
    }
    a->owned = 1;
    a->p = &a->model;
    SafeTensors *st = NULL;
    Preprocess pre;
    rc = st_open(&st, model_path);
    if (!rc) rc = student_model_preprocess(st_metadata(st, "mvla.metadata"), &a->p->cfg, &pre, model_path);
    st_close(st);
    if (!rc) rc = make(out, a, &pre);
    if (rc) {
        adapter_destroy(a);
        memset(out, 0, sizeof *out);
    }
    return rc;
}
