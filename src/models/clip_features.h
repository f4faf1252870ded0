/* The frozen-backbone feature cache: a CLIP backbone run once over every frame of a frame cache
 * (data/cache.h), so policy heads train on stored features in minutes instead of running the backbone
 * at every step.
 *
 * Where: <frame cache path>.features/<key>.safetensors, key = the first 24 hex digits of the SHA-256 of
 * a canonical JSON description of everything the features depend on:
 *   {"format": "mvla-clip-features", "version": 1,
 *    "backbone": <clip_backbone_hash: weights, config, tokenizer>,
 *    "normalise": <the backbone's ClipPreprocess JSON (mean, std, ...)>,
 *    "frames": {"width", "height", "crop", "filter"}       the frame cache's preprocessing,
 *    "episodes": [[file, content hash, frames, instruction], ...]   the frame cache's episodes,
 *    "tokens": bool, "copies": n, "augment": <AugmentParams> | null, "seed": n | null}
 * An existing file whose recorded description equals the one asked for is reused; anything else
 * (another backbone, other normalisation, other frames or episodes, other copies) gives another key, so
 * the features are computed again into a new file (older files are left alone: several heads on
 * several backbones may share one frame cache). Written atomically.
 *
 * Contents (fp32 unless noted), N = the frame cache's total frames, V = 1 + copies variants, row
 * v * N + frame_offset(episode) + t:
 *   image_embeds [V*N, P]        the projected, pooled image embedding (CLIP's image_embeds)
 *   tokens       [V*N, T, Dv]    the vision tower's last hidden state (only with tokens: resampler heads)
 *   text_embeds  [S, P]          CLIP's text_embeds of every distinct instruction of the episodes and of
 *                                its left/right-swapped form (augment_swap_sides), in first-seen order
 *   mirrored     U8 [V, E]       whether copy v of episode e is mirrored
 * and metadata "mvla.features" (the description), "mvla.features.key", "mvla.features.texts" (JSON array).
 *
 * Variant 0 is the frames as cached. Copy v >= 1 of an episode draws ONE AugmentDraw (data/augment.h)
 * from the given AugmentParams with the seed of (seed, v, the episode's file name) and applies it to all
 * its frames (noise stream: the frame index), so windows stay consistent; a mirrored copy's targets are
 * mirrored and its instruction swapped by whoever reads it (mirrored tells). */
#ifndef MVLA_MODELS_CLIP_FEATURES_H
#define MVLA_MODELS_CLIP_FEATURES_H

#include "data/augment.h"
#include "data/cache.h"
#include "models/clip_backbone.h"

#include <stdint.h>

typedef void (*ClipFeatureProgressFn)(void *ctx, long frames_done, long frames_total);

typedef struct {
    int tokens;                     /* also store the visual tokens (default 0) */
    int copies;                     /* augmented copies per episode (default 0) */
    AugmentParams aug;              /* their draw (default augment_off) */
    uint64_t seed;                  /* (default 0) */
    ClipFeatureProgressFn progress; /* called after each episode while computing (may be NULL) */
    void *progress_ctx;
} ClipFeatureOptions;

void clip_feature_options_default(ClipFeatureOptions *o);

typedef struct ClipFeatures ClipFeatures;

/* Opens the features of cache c under backbone b and options o, computing them first when no file
 * holds them. *built (may be NULL) = 1 when they were computed. c must outlive the result. */
int clip_features_open_or_build(ClipFeatures **out, const FrameCache *c, ClipBackbone *b, const ClipFeatureOptions *o,
                                int *built);
void clip_features_free(ClipFeatures *f);

const char *clip_features_path(const ClipFeatures *f);
int clip_features_variants(const ClipFeatures *f);   /* V */
int clip_features_dim(const ClipFeatures *f);        /* P */
int clip_features_has_tokens(const ClipFeatures *f);
int clip_features_token_count(const ClipFeatures *f); /* T */
int clip_features_token_dim(const ClipFeatures *f);   /* Dv */
double clip_features_seconds(const ClipFeatures *f);  /* time spent computing (0 when reused) */

/* Frame `frame` (frame_offset + t) of variant v: P floats / T * Dv floats into dst. */
void clip_features_image(const ClipFeatures *f, int v, long frame, float *dst);
void clip_features_tokens(const ClipFeatures *f, int v, long frame, float *dst);
/* Whether copy v of cache episode e is mirrored (0 for v = 0). */
int clip_features_mirrored(const ClipFeatures *f, int v, int e);
/* The row of an instruction text in text_embeds ("" for NULL), or -1. */
int clip_features_text_index(const ClipFeatures *f, const char *text);
int clip_features_text_count(const ClipFeatures *f);
/* text_embeds row i: P floats into dst. */
void clip_features_text(const ClipFeatures *f, int i, float *dst);

#endif
