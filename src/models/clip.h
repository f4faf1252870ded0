/* CLIP (Hugging Face CLIPModel layout): the vision tower (ViT) and the text tower, on the tensor engine.
 *
 * Vision, pixel_values [B, C, R, R] (already normalised):
 *   patch embedding (conv with stride P, no bias, done as a GEMM on the flattened patches)
 *   -> [class_embedding ; patches] + position_embedding -> pre_layrnorm (sic) -> hidden_states[0]
 *   -> encoder layers (pre-LN blocks, models/transformer.h) -> last_hidden_state [B, T, D]
 *   pooled = post_layernorm(last_hidden_state[:, 0]) [B, D];  embeds = pooled visual_projection^T [B, P]
 * Text, input_ids [N, L] (L <= max_position_embeddings):
 *   token_embedding[ids] + position_embedding[0:L] -> hidden_states[0] -> causal encoder layers
 *   -> last_hidden_state = final_layer_norm(x) [N, L, D] (every position; padding is not masked)
 *   pooled = last_hidden_state[n, eot(n)] [N, D];  embeds = pooled text_projection^T [N, P]
 *   eot(n): the first position holding eos_token_id; argmax(input_ids[n]) when eos_token_id is 2 (legacy
 *   configs, as Hugging Face does) or when the row holds no eos token (OpenAI's rule).
 * hidden_states[i] (i >= 1) is the output of layer i-1 before any final norm (Hugging Face's convention).
 *
 * Tensors are read by their checkpoint names from a .safetensors file, a sharded index, or a folder
 * (config.json + model.safetensors or model.safetensors.index.json); any float dtype is converted to
 * fp32. A missing tensor or one with the wrong shape fails with the file, the tensor name and both shapes.
 *
 * Outputs are step tensors of the Graph (valid until graph_reset). For inference call
 * graph_set_grad(g, 0): a steady-state call then allocates nothing beyond the graph arena. For
 * fine-tuning, clip_trainable() marks the last blocks (and optionally the head) as parameters; the
 * forward then records only what those need and graph_backward fills their grads. */
#ifndef MVLA_MODELS_CLIP_H
#define MVLA_MODELS_CLIP_H

#include "io/safetensors.h"
#include "models/clip_config.h"
#include "models/transformer.h"
#include "nn/params.h"

typedef struct {
    ClipTowerConfig cfg;
    EncoderBlockConfig block;     /* derived from cfg */
    EncoderBlock *layers;         /* cfg.num_hidden_layers */
    /* vision */
    Tensor *class_embedding;      /* [D] */
    Tensor *patch_embedding;      /* [D, C, P, P] */
    Tensor *pre_layrnorm_w, *pre_layrnorm_b;
    /* text */
    Tensor *token_embedding;      /* [V, D] */
    /* both */
    Tensor *position_embedding;   /* [T, D] */
    Tensor *final_ln_w, *final_ln_b; /* vision post_layernorm, text final_layer_norm */
    Tensor *projection;           /* [P, D], NULL when the checkpoint has none (single-tower files) */
} ClipTower;

typedef struct {
    ClipConfig cfg;
    int towers;                   /* CLIP_TOWER_* bits actually loaded */
    ClipTower vision, text;
    Tensor *logit_scale;          /* [] (log of the scale), NULL when absent */
    /* every tensor of the model with its checkpoint name (clip.c): loading, saving, init, trainable */
    struct ClipSlot *slots;
    int n_slots;
} ClipModel;

typedef struct {
    Tensor *last_hidden_state;    /* [B, T, D] */
    Tensor *pooled;               /* [B, D] */
    Tensor *embeds;               /* [B, P], NULL without a projection */
    Tensor **hidden_states;       /* n_hidden_states = layers + 1 entries [B, T, D], or NULL if not asked */
    int n_hidden_states;
} ClipOutput;

/* Loads the towers asked for (CLIP_TOWER_* bits, 0 = every tower the config describes) from folder
 * (config.json beside model.safetensors / model.safetensors.index.json). */
int clip_load(ClipModel **out, const char *folder, int towers);
/* Same with an explicit config and an already opened checkpoint. */
int clip_load_from(ClipModel **out, const ClipConfig *cfg, const SafeTensors *st, int towers);
/* A model with the config's shapes and random weights (LayerNorm weights 1 + 0.1 N(0,1), biases 0.05 N(0,1),
 * embeddings 0.1 N(0,1), matrices N(0, s^2) with s = clamp(fan_in^-1/2, 0.02, 0.1), logit_scale ln(1/0.07));
 * both projections are created. */
int clip_create_random(ClipModel **out, const ClipConfig *cfg, int towers, uint64_t seed);
void clip_free(ClipModel *m);

/* Writes dir/config.json and dir/model.safetensors in Hugging Face's layout (dir must exist). */
int clip_save(const ClipModel *m, const char *dir);

/* pixel_values [B, C, R, R] -> out. want_hidden: also fill out->hidden_states. */
/* 0 when px is [B >= 1, channels, image_size, image_size] for tower t, else an error naming who. */
int clip_check_pixels(const ClipTower *t, const Tensor *px, const char *who);
/* Fills *out from a tower's last hidden state, pooled output and hidden states (NULL: not kept): projects
 * the pooled output when the tower has a projection. A NULL input (a failed op) becomes an error
 * "clip WHAT: <the op's message>". */
int clip_tower_finish(Graph *g, const ClipTower *t, Tensor *last, Tensor *pooled, Tensor **hidden, ClipOutput *out,
                      const char *what);
int clip_vision_forward(Graph *g, const ClipModel *m, Tensor *pixel_values, int want_hidden, ClipOutput *out);
/* ids: n rows of len token ids (row-major) -> out. */
int clip_text_forward(Graph *g, const ClipModel *m, const int *ids, int n, int len, int want_hidden, ClipOutput *out);
/* The pooling position of one row of ids (see the header comment). */
int clip_text_eot_position(const ClipTowerConfig *text, const int *ids, int len);

/* logits[i * n_text + j] = exp(logit_scale) * cos(image_embeds[i], text_embeds[j]) (logits_per_image). */
int clip_logits(const ClipModel *m, const Tensor *image_embeds, const Tensor *text_embeds, float *logits);

/* Fine-tuning: adds to p (which does not own them: free it with params_free(p, 0)) the tensors of the
 * last n_blocks encoder layers of the tower (CLIP_TOWER_TEXT or CLIP_TOWER_VISION) and, with with_head,
 * its final norm and projection. They get requires_grad and grad buffers; names are checkpoint names. */
int clip_trainable(ClipModel *m, int tower, int n_blocks, int with_head, ParamList *p);

/* The model's checkpoint tensors in table order (towers loaded, then logit_scale): count, the i-th name,
 * and its tensor (NULL for an optional tensor the checkpoint did not have). */
int clip_tensor_count(const ClipModel *m);
const char *clip_tensor_name(const ClipModel *m, int i);
const Tensor *clip_tensor_at(const ClipModel *m, int i);

/* Multiply-adds of one image through the vision tower (patch GEMM, blocks, projection). */
double clip_vision_macs(const ClipModel *m);

#endif
