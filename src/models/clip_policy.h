/* The seed's CLIP systems in mvla: a small trainable head over a FROZEN CLIP backbone (clip_backbone.h).
 *
 *   each frame -> CLIP vision tower -> image embedding i [P] (projected, pooled) and visual tokens [T, Dv]
 *   instruction -> CLIP text tower -> text embedding e [P]                          (once per episode)
 *   fusion "concat":    [i ; e]                                       (2P)   the plain CLIP baselines
 *          "clip_norm": [i/|i| ; e/|e| ; (i/|i|) * (e/|e|)]           (3P)   "CLIP normalisation"
 *   resampler (optional): perceiver (resampler.h) over the visual tokens -> mean of its latents [dim],
 *          concatenated to the fusion
 *   neck: linear -> GELU -> dropout: per-frame feature [D]
 *   window of W per-frame features (before the episode start: the learned head.pad)
 *   head "mlp" (W = 1): linear -> ReLU;  "lstm": LSTM, last hidden state
 *   dropout -> out linear -> [K, 3] through tanh (continuous, normalised) or [K, 11] logits (discrete)
 *
 * "CLIP normalisation" (REFERENCE.md: the Enhanced system's "CLIP normalisation": L2-normalised,
 * CLIP-projected image and text embeddings, fused) is not specified further by the seed; we fuse the
 * two unit vectors by concatenation plus their element-wise product (whose sum is CLIP's cosine
 * similarity, the quantity CLIP was trained to make meaningful). The fusion is computed in plain C
 * (clip_policy_fuse) on the frozen embeddings, identically in training and at run time.
 *
 * Actions reuse the student's code (models/policy.h): the config's `action` section is the student's
 * (parsed by student_config_parse), and `act` is a StudentPolicy shell holding only that config (with
 * the input size R x R and the name), out_dim and the action_mean / action_scale buffers of this head,
 * so student_loss, student_output_to_actions and student_fit_action_stats work on it unchanged.
 *
 * Training (train/train_clip.h) feeds stored features (clip_features.h); step mode (ClipRunner) runs
 * the backbone on each frame and gives the same outputs for the same frames.
 *
 * Checkpoint names: resampler.* (resampler.h), neck.{weight,bias}, head.pad, head.mlp.{weight,bias} |
 * head.lstm.*, out.{weight,bias}, out.action_mean, out.action_scale (buffers). The backbone is not in a
 * checkpoint: its metadata records it (path and content hash); a model file embeds it. */
#ifndef MVLA_MODELS_CLIP_POLICY_H
#define MVLA_MODELS_CLIP_POLICY_H

#include "models/clip_backbone.h"
#include "models/policy.h"
#include "models/resampler.h"
#include "nn/linear.h"
#include "nn/lstm.h"

#include <jansson.h>

#define CLIP_POLICY_PATH_MAX 1024

typedef enum { CLIP_FUSION_CONCAT = 0, CLIP_FUSION_NORM } ClipFusion;
typedef enum { CLIP_HEAD_MLP = 0, CLIP_HEAD_LSTM } ClipHeadKind;

/* JSON (the "clip" section of a training config; every key optional, defaults in brackets):
 *   name          ["clip"]
 *   backbone      [""] the Hugging Face CLIP folder (`mvla train --backbone` sets it)
 *   image_size, embed_dim, token_count, token_dim   [0] the backbone's shapes, filled from it
 *   fusion        ["concat"] "concat" or "clip_norm"
 *   feature_dim   [256] per-frame feature D, 8..4096
 *   dropout       [0.1] 0..0.9
 *   head          {"kind": ["lstm"] "mlp" | "lstm", "window": [8] 1..64 ("mlp": 1), "hidden": [256] 8..4096,
 *                  "layers": [1] 1..LSTM_MAX_LAYERS}
 *   resampler     {"enabled": [false], "latents": [16], "depth": [2], "heads": [4], "dim_head": [32],
 *                  "ff_mult": [2], "dim": [128]}      perceiver over the visual tokens (resampler.h)
 *   copies        [0] augmented copies of every frame in the feature cache (clip-aug), 0..64; drawn from
 *                 the training config's train.augment
 *   action        the student's action section (models/policy_config.h) over kind "continuous", loss "l1"
 *                 (the student's other defaults); "ensemble" is not supported */
typedef struct {
    char name[STUDENT_NAME_MAX];
    char backbone[CLIP_POLICY_PATH_MAX];
    int image_size, embed_dim, token_count, token_dim;
    ClipFusion fusion;
    int feature_dim;
    double dropout;
    struct {
        ClipHeadKind kind;
        int window, hidden, layers;
    } head;
    struct {
        int enabled, latents, depth, heads, dim_head, ff_mult, dim;
    } resampler;
    int copies;
    StudentConfig act; /* only act.action is read */
} ClipPolicyConfig;

void clip_policy_config_default(ClipPolicyConfig *c);
/* Reads a JSON object over *c (which holds defaults or a preset); errors "<label>.<key>: expected ..., got ...". */
int clip_policy_config_from_json(ClipPolicyConfig *c, const json_t *obj, const char *label);
/* Every field (a new reference; NULL when out of memory). from_json(to_json(c)) rebuilds c. */
json_t *clip_policy_config_to_json(const ClipPolicyConfig *c);
/* Cross-field checks; with_shapes: the backbone shapes must be set too. */
int clip_policy_config_validate(const ClipPolicyConfig *c, int with_shapes, const char *label);
/* Fills the backbone shapes from b; fails when they are set and differ (the model was built for another). */
int clip_policy_config_set_backbone(ClipPolicyConfig *c, const ClipBackbone *b, const char *label);
const char *clip_fusion_name(ClipFusion f);      /* "concat", "clip_norm" */
const char *clip_head_name(ClipHeadKind k);      /* "mlp", "lstm" */
/* One line for tables: "clip lstm W8 K4 l1 concat" (+ " resampler", " xN aug"). */
void clip_policy_config_features(const ClipPolicyConfig *c, char *buf, int n);

typedef struct {
    ClipPolicyConfig cfg;
    ParamList params;
    int fused_dim;          /* fusion output width (2P or 3P) */
    int frame_in;           /* neck input: fused_dim (+ resampler dim) */
    Resampler rs;
    Linear neck, mlp, out;
    LSTM lstm;
    Tensor *pad;            /* [D] */
    int head_dim;
    StudentPolicy act;      /* the action shell (see above); never student_free'd */
    ClipBackbone *backbone; /* step mode; owned (clip_policy_free frees it) */
} ClipPolicy;

/* A head with fresh weights from seed (cfg must have the backbone shapes). */
int clip_policy_init(ClipPolicy *p, const ClipPolicyConfig *cfg, uint64_t seed);
void clip_policy_free(ClipPolicy *p);
long clip_policy_param_count(const ClipPolicy *p);
long clip_policy_model_bytes(const ClipPolicy *p);

/* fusion of one frame: img [P], txt [P] -> out [fused_dim]. */
void clip_policy_fuse(const ClipPolicy *p, const float *img, const float *txt, float *out);

/* Per-frame features: fused [N, fused_dim] (clip_policy_fuse of each frame with its instruction),
 * tokens [N, T, Dv] or NULL (needed with the resampler) -> [N, D]. */
Tensor *clip_policy_frame_features(Graph *g, ClipPolicy *p, Tensor *fused, Tensor *tokens, int training, Rng *rng);
/* feats [B, W, D], mask NULL or B*W floats (0: before the episode start) -> [B, K, out_dim]. */
Tensor *clip_policy_head(Graph *g, ClipPolicy *p, Tensor *feats, const float *mask, int training, Rng *rng);

/* ---- checkpoints ---- */

/* {"clip_policy": config, "backbone": clip_backbone_json(b)} as a new object (b may be NULL: no "backbone"). */
json_t *clip_policy_metadata(const ClipPolicy *p, ClipBackbone *b);
/* 1 when a checkpoint metadata text describes a CLIP policy (has "clip_policy"). */
int clip_policy_is_metadata(const char *metadata_json);
/* Builds the head from a checkpoint's metadata and loads its parameters; with_backbone: also opens the
 * recorded backbone folder and checks its content hash against the recorded one (backbone_override,
 * when not NULL, is opened instead of the recorded path, and must hash the same). */
int clip_policy_load(ClipPolicy *p, const char *path, int with_backbone, const char *backbone_override);

/* ---- step mode ---- */

typedef struct ClipRunner ClipRunner;

/* A runner over p (p->backbone must be set; p outlives the runner). NULL on failure. */
ClipRunner *clip_runner_new(ClipPolicy *p);
void clip_runner_free(ClipRunner *r);
/* Encodes the instruction with the text tower and starts a new episode. */
int clip_runner_set_instruction(ClipRunner *r, const char *text);
void clip_runner_reset(ClipRunner *r);
/* One frame (R x R x 3 RGB, the frame preprocessing's output): action[3] in raw units; chunk (NULL or
 * K*3 floats) receives the whole chunk. */
int clip_runner_step_rgb(ClipRunner *r, const uint8_t *rgb, float action[3], float *chunk);
/* The last step's head output, K * out_dim floats (normalised values or logits). */
const float *clip_runner_output(const ClipRunner *r);
/* Seconds in the backbone (image normalisation included) and in the head since the runner was made, and steps. */
void clip_runner_timing(const ClipRunner *r, double *encode_s, double *head_s, long *steps);

#endif
