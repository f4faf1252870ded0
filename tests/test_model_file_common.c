/* The metadata keys both model file families share (runtime/model_file_common.h): what one writes the
 * other reads back, and malformed values refused with the key named. */
#include "test.h"

#include "base/error.h"
#include "runtime/model_file_common.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* root with action and instruction written by the shared writers for a discrete policy. */
static json_t *written_root(StudentPolicy *p, ModelMeta *mm)
{
    memset(p, 0, sizeof *p);
    student_config_default(&p->cfg);
    p->cfg.action.kind = ACTION_DISCRETE;
    p->cfg.action.chunk = 4;
    p->cfg.action.key_value = 0.25;
    p->action_mean = tensor_new_shape(1, 3);
    p->action_scale = tensor_new_shape(1, 3);
    if (!p->action_mean || !p->action_scale) return NULL;
    for (int i = 0; i < 3; i++) p->action_mean->data[i] = 0.1f * (float)i, p->action_scale->data[i] = 1.0f + (float)i;
    memset(mm, 0, sizeof *mm);
    snprintf(mm->lang, sizeof mm->lang, "ko");
    json_t *root = json_object();
    json_object_set_new(root, "format_version", json_integer(MODEL_FORMAT_VERSION));
    json_object_set_new(root, "action", model_file_action_json(p));
    json_object_set_new(root, "instruction", model_file_instruction_json(mm));
    return root;
}

TEST(model_file_common_keys_round_trip)
{
    StudentPolicy p;
    ModelMeta mm;
    json_t *root = written_root(&p, &mm);
    REQUIRE(root);
    json_t *act = json_object_get(root, "action");
    CHECK(strcmp(json_string_value(json_object_get(act, "kind")), "discrete") == 0);
    CHECK(json_integer_value(json_object_get(act, "chunk")) == 4);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(act, "names"), 2)), "angular_z") == 0);
    CHECK_NEAR(json_real_value(json_array_get(json_object_get(act, "scale"), 2)), 3.0, 1e-6);
    CHECK_NEAR(json_real_value(json_array_get(json_object_get(act, "mean"), 1)), 0.1, 1e-6);
    CHECK(model_file_check_version(root, "m") == 0);
    ModelFile m;
    memset(&m, 0, sizeof m);
    REQUIRE(model_file_read_action_instruction(&m, root, "m") == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(m.limits[i], 0.25, 1e-6);
    CHECK(strcmp(m.instruction, "") == 0 && strcmp(m.lang, "ko") == 0); /* no instruction: "" */
    free(m.instruction);
    json_decref(root);
    tensor_free(p.action_mean);
    tensor_free(p.action_scale);
}

TEST(model_file_common_refuses_bad_values)
{
    StudentPolicy p;
    ModelMeta mm;
    json_t *root = written_root(&p, &mm);
    REQUIRE(root);
    ModelFile m;
    memset(&m, 0, sizeof m);
    json_t *lim = json_object_get(json_object_get(root, "action"), "limits");
    json_array_set_new(lim, 1, json_real(-1.0));
    CHECK(model_file_read_action_instruction(&m, root, "m.st") == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "m.st: metadata mvla.model: action.limits[1]"), "%s", mvla_error_message());
    json_array_set_new(lim, 1, json_string("1"));
    CHECK(model_file_read_action_instruction(&m, root, "m.st") == MVLA_ERR_FORMAT);
    json_array_remove(lim, 1);
    CHECK(model_file_read_action_instruction(&m, root, "m.st") == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "action.limits: expected an array of 3"), "%s", mvla_error_message());
    json_array_insert_new(lim, 1, json_real(0.5));
    json_object_del(json_object_get(root, "instruction"), "language");
    CHECK(model_file_read_action_instruction(&m, root, "m.st") == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "instruction: expected strings"), "%s", mvla_error_message());
    CHECK(m.instruction == NULL);
    json_object_set_new(root, "format_version", json_integer(0));
    CHECK(model_file_check_version(root, "m.st") == MVLA_ERR_FORMAT);
    json_object_set_new(root, "format_version", json_integer(MODEL_FORMAT_VERSION + 1));
    CHECK(model_file_check_version(root, "m.st") == MVLA_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(mvla_error_message(), "is newer than this mvla supports"), "%s", mvla_error_message());
    json_object_del(root, "format_version");
    CHECK(model_file_check_version(root, "m.st") == MVLA_ERR_FORMAT);
    json_decref(root);
    tensor_free(p.action_mean);
    tensor_free(p.action_scale);
}

TEST(model_file_common_provenance_copies_provenance_and_metrics)
{
    json_t *prov = model_file_provenance_json("{\"provenance\": {\"fold\": 2}, \"metrics\": {\"mae\": 0.5}, \"x\": 1}");
    REQUIRE(prov);
    CHECK(json_integer_value(json_object_get(prov, "fold")) == 2 && json_object_size(prov) == 2);
    CHECK_NEAR(json_real_value(json_object_get(json_object_get(prov, "metrics"), "mae")), 0.5, 1e-12);
    json_decref(prov);
    prov = model_file_provenance_json(NULL); /* no metadata, or not JSON: an empty object */
    CHECK(json_is_object(prov) && json_object_size(prov) == 0);
    json_decref(prov);
    prov = model_file_provenance_json("{\"provenance\": 3");
    CHECK(json_is_object(prov) && json_object_size(prov) == 0);
    json_decref(prov);
}
