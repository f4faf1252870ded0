/* What every model file family shares (model_file.h: the student's; clip_model_file.h: the CLIP
 * heads'): the export's steps, and the "mvla.model" keys they write and read alike (format_version,
 * action, instruction, provenance). */
#ifndef MVLA_RUNTIME_MODEL_FILE_COMMON_H
#define MVLA_RUNTIME_MODEL_FILE_COMMON_H

#include "io/safetensors.h"
#include "runtime/model_file.h"
#include "train/model_meta.h"

#include <jansson.h>

/* The "mvla.model" object of a policy, from its checkpoint's metadata: parsed (mm) and raw (may be NULL). */
typedef json_t *(*ModelMetaBuildFn)(const void *policy, const ModelMeta *mm, const char *ckpt_meta);
/* Adds a family's own tensors to the file (the CLIP heads' embedded backbone). */
typedef int (*ModelTensorsFn)(const void *policy, StWriter *w);

/* The export: parses checkpoint_path's metadata (for config c), builds the "mvla.model" object with
 * build, and writes params under their names, the tensors extra adds (NULL: none) and the metadata to
 * out_path atomically. */
int model_file_write(const char *checkpoint_path, const char *out_path, const void *policy, const StudentConfig *c,
                     const ParamList *params, ModelMetaBuildFn build, ModelTensorsFn extra);

/* The student's "mvla.model" object (a ModelMetaBuildFn over a StudentPolicy; runtime/model_file.c). */
json_t *model_file_student_meta(const void *policy, const ModelMeta *mm, const char *ckpt_meta);
/* model_export with "mirror": true (model_file.h); model_export_ensemble's one-checkpoint case. */
int model_export_mirrored(const char *checkpoint_path, const char *out_path);

/* The "action" object (names, units, limits, kind, chunk, keys, key_value, mean, scale) of a policy's
 * action section and its action_mean / action_scale buffers (a CLIP head passes its action shell). */
json_t *model_file_action_json(const StudentPolicy *p);
/* The "instruction" object: {"default": the checkpoint's instruction or "", "language"}. */
json_t *model_file_instruction_json(const ModelMeta *mm);
/* The "provenance" object: a copy of the checkpoint metadata's (empty when it has none), plus its
 * "metrics" when it has them. ckpt_meta may be NULL. */
json_t *model_file_provenance_json(const char *ckpt_meta);

/* Checks format_version: a positive integer (MVLA_ERR_FORMAT) no newer than MODEL_FORMAT_VERSION
 * (MVLA_ERR_UNSUPPORTED). */
int model_file_check_version(json_t *root, const char *path);
/* Reads action.limits (3 positive numbers) into m->limits and instruction.default / language into
 * m->instruction (malloc'd) and m->lang. */
int model_file_read_action_instruction(ModelFile *m, json_t *root, const char *path);

#endif
