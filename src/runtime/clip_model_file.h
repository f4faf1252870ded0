/* Model files of the CLIP heads (models/clip_policy.h): self-contained, the backbone embedded.
 *
 * Tensors: the head's parameters under their checkpoint names, the backbone's CLIP tensors under their
 * Hugging Face names (vision_model.*, text_model.*, visual_projection.weight, ...: the file is also a
 * valid CLIP checkpoint) and its tokenizer files as U8 tensors tokenizer.vocab_json and
 * tokenizer.merges_txt. Metadata "mvla.model" (model_file.h's keys, with these differences):
 *
 *   {"format_version": 1, "family": "clip",
 *    "architecture": <the clip_policy config>,
 *    "backbone": {"source": <the folder it was trained with>, "hash": <its content hash>,
 *                 "config": <its config.json>, "embedded": true},
 *    "preprocessing": {"channels": "RGB", "width": R, "height": R, "crop", "filter",
 *                      "clip": <ClipPreprocess JSON: CLIP's mean/std normalisation of the R x R frame>},
 *    "action": {...}, "instruction": {...}, "quantization": "none", "provenance": {...}}
 *
 * Nothing else is needed to run it: opening builds the head, the backbone (both towers, the tokenizer)
 * and the preprocessing from the file alone. */
#ifndef MVLA_RUNTIME_CLIP_MODEL_FILE_H
#define MVLA_RUNTIME_CLIP_MODEL_FILE_H

#include "runtime/model_file.h"

/* 1 when a "mvla.model" metadata text is a CLIP head's. */
int clip_model_is_file(const char *model_meta_json);
/* 1 when path opens and is a CLIP head's model file (model_file = 1) or training checkpoint (0). */
int clip_model_path_is(const char *path, int model_file);

/* A CLIP head's training checkpoint (its recorded backbone must still hash the same) -> model file. */
int clip_model_export(const char *checkpoint_path, const char *out_path);
/* Opens a CLIP head's model file into m (m->clip set, m->policy unused). */
int clip_model_open(ModelFile *m, const char *path);

#endif
