/* CLIP hyper-parameters, read from a Hugging Face config.json.
 *
 * Accepted layouts (model_type):
 *   "clip" (CLIPModel): {"projection_dim", "text_config": {...}, "vision_config": {...}}
 *     (older files: "text_config_dict" / "vision_config_dict"; a missing tower object means all defaults);
 *   "clip_vision_model" / "clip_text_model" (a single tower): the tower's keys at the top level.
 * Every key that is absent takes Hugging Face's default (CLIPTextConfig / CLIPVisionConfig /
 * CLIPConfig, i.e. openai/clip-vit-base-patch32); a key that is present must have the right type and
 * a sensible value, or loading fails with "<file>: <object>.<key>: expected ..., got ...". */
#ifndef MVLA_MODELS_CLIP_CONFIG_H
#define MVLA_MODELS_CLIP_CONFIG_H

#include "models/transformer.h"

typedef struct {
    int hidden_size;             /* text 512, vision 768 */
    int intermediate_size;       /* text 2048, vision 3072 */
    int num_hidden_layers;       /* 12 */
    int num_attention_heads;     /* text 8, vision 12 */
    MlpAct hidden_act;          /* quick_gelu */
    double layer_norm_eps;       /* 1e-5 */
    int projection_dim;          /* 512: the tower's own (used by single-tower *WithProjection models) */
    /* text only */
    int vocab_size;              /* 49408 */
    int max_position_embeddings; /* 77 */
    int bos_token_id;            /* 49406 */
    int eos_token_id;            /* 49407; 2 in legacy files, which means "pool at argmax(input_ids)" */
    int pad_token_id;            /* 1 */
    /* vision only */
    int image_size;              /* 224 */
    int patch_size;              /* 32 */
    int num_channels;            /* 3 */
} ClipTowerConfig;

enum { CLIP_TOWER_TEXT = 1, CLIP_TOWER_VISION = 2, CLIP_TOWERS_BOTH = 3 };

typedef struct {
    ClipTowerConfig text, vision;
    int projection_dim;            /* 512: width of image_embeds / text_embeds in a CLIPModel */
    double logit_scale_init_value; /* 2.6592 */
    int towers;                    /* CLIP_TOWER_* bits: which towers the file describes */
} ClipConfig;

/* Hugging Face's defaults for both towers (= ViT-B/32), towers = both. */
void clip_config_default(ClipConfig *c);

/* Published shapes: "ViT-B/32", "ViT-B/16", "ViT-L/14" (openai/clip-vit-*; L/14 at 224 pixels).
 * Returns 0, or an error for an unknown name. */
int clip_config_preset(ClipConfig *c, const char *name);

/* Parses config.json text; label names the file in error messages. */
int clip_config_parse(ClipConfig *c, const char *json_text, const char *label);
/* Reads path: a config.json file, or a folder holding one. */
int clip_config_load(ClipConfig *c, const char *path);

/* Checks the values (positive sizes, hidden divisible by heads, patch <= image...). */
int clip_config_check(const ClipConfig *c, const char *label);

/* A config.json text for c (Hugging Face's layout; malloc'd, the caller frees), NULL when out of memory. */
char *clip_config_to_json(const ClipConfig *c);

/* Vision tokens per image: (image_size / patch_size)^2 + 1 (class token). */
int clip_vision_tokens(const ClipTowerConfig *v);

#endif
