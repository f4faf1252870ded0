/* The student policy: camera frames + instruction -> a chunk of the next K actions.
 *
 *   instruction text -> tokens -> instruction encoder -> e [B, E]            (once per episode)
 *   each frame [3,H,W] -> MobileNet encoder, FiLM(e) after the configured blocks -> final conv
 *        -> flatten or avg pool (+ concat e, for fusion "concat") -> neck linear + hardswish
 *        -> dropout -> per-frame feature [D]
 *   window of W frame features [B, W, D] (frames before the episode start: the learned head.pad)
 *        -> temporal head: "none" (MLP on the current frame), "lstm" (last hidden state) or
 *           "transformer" (causal, padding masked, learned positions; its last position)
 *        -> dropout -> out linear -> [B, K, 3] through tanh (continuous, normalised units) or
 *           [B, K, 11] logits over the teleop keys (discrete, order ACTION_KEYS of data/actions.h)
 *
 * Continuous actions are normalised per axis: a_norm = (a - action_mean) / action_scale. The two
 * [3] vectors are buffers of the model (saved with it): set them from the training data with
 * student_fit_action_stats (or student_set_action_stats). Defaults: mean 0, scale key_value / 0.9,
 * so the teleop values +-1.15 map to +-0.9, inside tanh's range.
 *
 * Checkpoint names: encoder.* (mobilenet.h), instruction.* (instruction.h), film.<j>.{gamma,beta}.*,
 * neck.{weight,bias}, head.pad, head.mlp.* | head.lstm.{weight_ih_l0,...} | head.pos,
 * head.transformer.*, out.{weight,bias}, out.action_mean, out.action_scale (buffers).
 *
 * Step mode (StudentRunner): one new frame in, one action out. The frame is encoded once; the last W
 * per-frame features live in a ring buffer, and the head runs over them, so a step costs one encoder
 * pass plus one head pass (the LSTM re-reads the W cached features rather than carrying its state
 * across the whole episode, so that it sees exactly what training showed it). It gives the same
 * outputs as student_forward over the same window in eval mode. Optional ACT-style temporal
 * ensembling averages the predictions for the current step from the last K chunks with weights
 * exp(-m i), i = 0 for the oldest (discrete: their key probabilities). A step allocates nothing once
 * the graph arena has grown to a step's size (after the first steps). Threads: the runner uses the
 * process-wide setting (mvla_set_threads); at batch 1 one thread is usually fastest.
 *
 * The name `Policy` belongs to the runtime's vtable (src/runtime/policy.h); this is StudentPolicy. */
#ifndef MVLA_STUDENT_POLICY_H
#define MVLA_STUDENT_POLICY_H

#include "models/film.h"
#include "models/instruction.h"
#include "models/mobilenet.h"
#include "nn/lstm.h"
#include "tensor/optim.h"

#include <stdint.h>

typedef struct {
    StudentConfig cfg;
    ParamList params;
    MobileNet enc;
    InstrEncoder instr;
    int n_film;
    Film film[STUDENT_MAX_FILM];
    int film_of_block[STUDENT_MAX_BLOCKS]; /* index into film[], or -1 */
    int pooled_dim;                        /* encoder output after pooling (before concat) */
    Linear neck;
    Tensor *pad;                           /* [D] */
    Linear mlp;                            /* head "none" */
    LSTM lstm;                             /* head "lstm" */
    Tensor *pos;                           /* head "transformer": [W, D] */
    TinyTransformer tf;
    int head_dim;
    Linear out;
    Tensor *action_mean, *action_scale;    /* [3] buffers */
    int out_dim;                           /* 3 (continuous) or 11 (discrete) */
    int folded;
    struct StudentInt8 *int8;              /* int8 inference engine (models/policy_int8.h), or NULL */
} StudentPolicy;

/* Builds the policy with fresh weights drawn from seed. */
int student_init(StudentPolicy *p, const StudentConfig *c, uint64_t seed);
void student_free(StudentPolicy *p);
ParamList *student_params(StudentPolicy *p);
/* Trainable parameters' element count, and the bytes of everything saved (fp32). */
long student_param_count(const StudentPolicy *p);
long student_model_bytes(const StudentPolicy *p);

/* ---- batched forward (training and evaluation) ---- */

/* texts: B instructions -> [B, E] (tokenized with the config's tokenizer). */
Tensor *student_encode_texts(Graph *g, StudentPolicy *p, const char *const *texts, int B, int training, Rng *rng);
Tensor *student_encode_tokens(Graph *g, StudentPolicy *p, const InstrTokens *tokens, int B, int training, Rng *rng);

/* frames [B, W, 3, H, Wd] normalised (student_frame_from_rgb's units), frame_mask NULL or B*W floats
 * (1 real, 0 padding; padding only before the first real frame, the last frame of each window real),
 * instr [B, E] from student_encode_* -> [B, K, 3] (continuous, normalised) or [B, K, 11] (logits).
 * training: batch norm on batch statistics (running averages updated) and dropout drawn from rng
 * (needed when dropout > 0); otherwise eval mode. Padding frames are not encoded. */
Tensor *student_forward(Graph *g, StudentPolicy *p, Tensor *frames, const float *frame_mask, Tensor *instr,
                        int training, Rng *rng);

/* Every position of B frame sequences at once, for training on consecutive windows cheaply: frames
 * [B, T, 3, H, Wd] (T >= 1, any length), frame_mask NULL or B*T floats -> [B*T, K, out_dim], row
 * b*T + t being the output for the window of W frames ending at frame t of sequence b, exactly what
 * student_forward gives for that window. Each frame is encoded once (not W times), so a sequence of
 * T frames costs T encoder passes for T windows. Frames before the sequence start count as padding,
 * so start sequences at the episode start, or mask the loss of the first W-1 positions. Outputs at
 * padded positions are meaningless: mask their loss (student_loss's target_mask, B*T*K floats). */
Tensor *student_forward_sequence(Graph *g, StudentPolicy *p, Tensor *frames, const float *frame_mask, Tensor *instr,
                                 int training, Rng *rng);

/* The configured loss of out (student_forward's) against raw target actions [B, K, 3] with
 * target_mask NULL or B*K floats (0: padding past the episode's end, ignored). Continuous: L1 /
 * Huber / MSE on normalised units, mean over the kept elements. Discrete: cross-entropy against the
 * key of each target (the teleop key it equals at 1.15 or 0.5, else the key of its direction
 * signs, else the nearest key), mean over the kept steps. A 0-dim tensor. */
Tensor *student_loss(Graph *g, const StudentPolicy *p, Tensor *out, const float *targets, const float *target_mask);

/* n chunk entries of an output (n * out_dim floats) -> n raw actions [n, 3]: continuous
 * mean + scale * value; discrete: the argmax key's action at key_value. */
void student_output_to_actions(const StudentPolicy *p, const float *out, int n, float *actions);
/* The class of a raw action for the discrete head (see student_loss). */
int student_action_class(const StudentPolicy *p, const float a[3]);

/* Per-axis normalisation: mean[3], scale[3] > 0. */
int student_set_action_stats(StudentPolicy *p, const float mean[3], const float scale[3]);
/* From n raw actions [n, 3]: mean per axis and scale = max |a - mean| / 0.9 (at least 1e-3). */
int student_fit_action_stats(StudentPolicy *p, const float *actions, long n);

/* One RGB frame (input_width x input_height x 3 bytes, rows top to bottom) -> CHW floats
 * (pixel / 255 - pixel_mean) / pixel_std. */
void student_frame_from_rgb(const StudentConfig *c, const uint8_t *rgb, float *chw);

/* Folds batch norm into the encoder's convs for inference (eval outputs unchanged up to rounding).
 * One way: a folded policy cannot train, and student_save refuses it. */
int student_fold_batchnorm(StudentPolicy *p);

/* ---- checkpoints: parameters + {"policy": config} metadata (nn/checkpoint.h) ---- */

/* The metadata JSON text {"policy": <config>} (malloc'd). */
char *student_metadata_json(const StudentPolicy *p);
/* The policy config from a metadata text (its "policy" object). */
int student_config_from_metadata(StudentConfig *c, const char *metadata_json, const char *source_name);
/* checkpoint_save with the metadata above (opt may be NULL). */
int student_save(const StudentPolicy *p, const char *path, const Optimizer *opt, long step);
/* Builds the policy from a checkpoint's metadata and loads its parameters. */
int student_load(StudentPolicy *p, const char *path);

/* Transfer learning: copies the parameters and buffers whose names start with prefix ("" every one,
 * "encoder." the image encoder with its batch-norm statistics) from the student checkpoint at path
 * (`mvla train`'s best or last) into p. Every one must be in the file with p's shape; on failure (an
 * error naming the file, the tensor and both shapes) p is unchanged. The rest of p keeps its values. */
int student_init_from(StudentPolicy *p, const char *path, const char *prefix);

/* ---- step mode ---- */

typedef struct StudentRunner StudentRunner;

/* A runner over p (which must outlive it), set to the empty instruction. NULL on failure. */
StudentRunner *student_runner_new(StudentPolicy *p);
void student_runner_free(StudentRunner *r);
/* Encodes and caches the instruction (NULL or "" for none) and resets the episode. */
int student_runner_set_instruction(StudentRunner *r, const char *text);
/* Starts a new episode: forgets past frames and chunks. */
void student_runner_reset(StudentRunner *r);
/* One normalised frame [3, H, W] in; action[3] (raw units, ensembled when configured) out; chunk
 * (NULL or K*3 floats) receives this step's whole chunk in raw units. */
int student_runner_step(StudentRunner *r, const float *frame_chw, float action[3], float *chunk);
/* Same from an RGB frame (student_frame_from_rgb). */
int student_runner_step_rgb(StudentRunner *r, const uint8_t *rgb, float action[3], float *chunk);
/* The last step's head output, K * out_dim floats (normalised values or logits). */
const float *student_runner_output(const StudentRunner *r);
/* Seconds spent in the encoder and in the head (with ensembling) since the runner was made, and steps. */
void student_runner_timing(const StudentRunner *r, double *encode_s, double *head_s, long *steps);
/* The graph arena's reserved bytes (stable across steps in steady state). */
size_t student_runner_arena_bytes(StudentRunner *r);

#endif
