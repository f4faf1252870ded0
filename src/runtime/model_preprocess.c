/* The frame preprocessing recorded in a student model's metadata (see model_preprocess.h). */
#include "runtime/model_preprocess.h"

#include "base/error.h"

#include <jansson.h>
#include <string.h>

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
