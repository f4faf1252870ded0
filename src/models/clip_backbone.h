/* A CLIP checkpoint as a frozen feature extractor for policy heads (the seed's CLIP systems): both towers,
 * the tokenizer, the image normalisation, and a content hash that names exactly these weights.
 *
 * Sources: a Hugging Face CLIP folder (config.json, model.safetensors or its sharded index, vocab.json,
 * merges.txt), or a model file that embeds one (clip_backbone_embed / clip_backbone_open_embedded: the
 * CLIP tensors under their own checkpoint names, the tokenizer files as U8 tensors "tokenizer.vocab_json"
 * and "tokenizer.merges_txt", the config as JSON text in the model's metadata).
 *
 * Frames reach the backbone already at the vision tower's resolution R x R, RGB uint8 (the frame cache
 * and the runtime resize and crop them with data/preprocess.h: centre crop, bicubic); `pre` then only
 * normalises them (CLIP's mean/std, no resize, crop R x R), through clip_preprocess_image.
 *
 * Hash ("sha256:<hex>"): SHA-256 over the parsed config (as clip_config_to_json writes it), every tensor
 * (name, shape, and a 64-bit hash64 digest of its fp32 data, in table order) and digests of the two
 * tokenizer files' bytes (hash64 keeps a ViT-B/32, 600 MB, well under a second; it detects changes, it
 * does not resist forgery). It does not depend on file layout (dtype on disk, shards) or paths, so a
 * folder and a model file embedding it hash equal. Computed on first use (clip_backbone_hash).
 *
 * Forward passes run on the backbone's own graph without gradients; a backbone is not thread-safe. */
#ifndef MVLA_MODELS_CLIP_BACKBONE_H
#define MVLA_MODELS_CLIP_BACKBONE_H

#include "base/hash.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/clip_preprocess.h"
#include "models/clip_tokenizer.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    ClipModel *model;            /* both towers with projections */
    ClipTokenizer *tok;          /* parsed on first use (clip_backbone_tokenizer) */
    ClipPreprocess pre;          /* normalisation of R x R RGB frames */
    char *path;                  /* where it was loaded from (a folder or a model file) */
    char *vocab, *merges;        /* the tokenizer files' bytes (for embedding and the hash) */
    size_t vocab_size, merges_size;
    char hash[HASH_TEXT_MAX];    /* "" until clip_backbone_hash */
    Graph *g;                    /* forward passes, no gradients */
} ClipBackbone;

/* Loads a Hugging Face CLIP folder. The errors name the missing piece ("FOLDER: vocab.json: ...: a CLIP
 * backbone folder holds config.json, model.safetensors (or shards), vocab.json and merges.txt"). Both
 * towers and both projections are required. */
int clip_backbone_open(ClipBackbone **out, const char *folder);
/* From a model file opened as st, with its recorded config (the "config" of its backbone metadata). */
int clip_backbone_open_embedded(ClipBackbone **out, const SafeTensors *st, const json_t *config, const char *label);
void clip_backbone_free(ClipBackbone *b);

/* Adds the backbone's tensors and tokenizer files to w (see above). */
int clip_backbone_embed(const ClipBackbone *b, StWriter *w);
/* {"source": path, "hash": ..., "config": <config.json object>} (a new reference; NULL when out of memory). */
json_t *clip_backbone_json(ClipBackbone *b);

/* The content hash (computed once). */
const char *clip_backbone_hash(ClipBackbone *b);

int clip_backbone_image_size(const ClipBackbone *b);   /* R */
int clip_backbone_embed_dim(const ClipBackbone *b);    /* P, projection_dim */
int clip_backbone_tokens(const ClipBackbone *b);       /* T = (R / patch)^2 + 1 */
int clip_backbone_token_dim(const ClipBackbone *b);    /* vision hidden size */

/* n frames rgb[i] (R x R x 3, RGB) -> embeds [n, P] (image_embeds: projected pooled output) and, when
 * tokens is not NULL, tokens [n, T, Dv] (the vision tower's last_hidden_state). */
int clip_backbone_encode_images(ClipBackbone *b, const uint8_t *const *rgb, int n, float *embeds, float *tokens);
/* The tokenizer, parsed from the stored files on first use (vocab.json is large: opening a backbone
 * whose text tower is not needed, e.g. training on stored features, skips it). */
int clip_backbone_tokenizer(ClipBackbone *b, const ClipTokenizer **out);
/* One instruction (NULL: "") -> embed [P] (text_embeds; over-long text is truncated to the context). */
int clip_backbone_encode_text(ClipBackbone *b, const char *text, float *embed);

#endif
