/* The student policy's configuration: one JSON object, every key optional (its default below).
 * Unknown keys and bad values are rejected with an error naming the source, the key path and what
 * was expected ("configs/x.json: encoder.blocks[2].kernel: expected an odd integer in 1..7, got 4").
 * student_config_to_json writes every field, so parse(to_json(c)) rebuilds c (numbers keep 15
 * significant digits, so every value written as a decimal of up to 15 digits comes back exactly);
 * that text goes into checkpoint and model-file metadata.
 *
 * Keys (defaults in brackets):
 *   name                      ["student"] free text
 *   feature_dim               [128] per-frame feature size after the neck (the temporal head's input)
 *   dropout                   [0.1] on per-frame features and on the head's output, 0..0.9
 *   encoder.                  MobileNet-class image encoder (src/models/mobilenet.h)
 *     input_width, input_height [128, 128] frame size in pixels, 16..1024
 *     width_mult              [0.75] channel multiplier for stem and blocks, (0, 4]; channels are
 *                             round(c * width_mult) to a multiple of 8, never below 90% of it, at least 8
 *     stem_channels           [16] stem conv 3x3 stride 2 output channels (before width_mult)
 *     stem_act                ["hardswish"] "relu" or "hardswish"
 *     blocks                  [MobileNetV3-Small's first 7 blocks, as in configs/student.json]
 *                             1..16 inverted residual blocks, each an object:
 *       kernel                [3] depthwise kernel, odd, 1..7
 *       expand                [4 x the block's input channels] expanded channels (before width_mult);
 *                             equal to the input channels: no expand conv
 *       out                   [the block's input channels] output channels (before width_mult)
 *       stride                [1] 1 or 2
 *       se                    [false] squeeze-excite after the depthwise conv
 *       act                   ["relu"] "relu" or "hardswish"
 *     se_ratio                [0.25] squeeze channels = expanded channels x ratio (multiple of 8), (0, 1]
 *     final_channels          [64] 1x1 conv + BN + act after the blocks (not scaled); 0: none
 *     final_act               ["hardswish"]
 *     pool                    ["flatten"] "flatten" (keeps where things are in the image) or "avg"
 *     bn_momentum, bn_eps     [0.1, 1e-5] batch norm settings (PyTorch's meaning)
 *     pixel_mean, pixel_std   [ImageNet's (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)] RGB in [0,1]
 *                             units; student_frame_from_rgb applies them
 *   instruction.              instruction encoder (src/models/instruction.h)
 *     encoder                 ["mean"] "mean" (mean of token embeddings + MLP) or "transformer"
 *     vocab                   [2048] hash buckets (ids 0 and 1 are reserved), 16..1048576
 *     max_tokens              [64] tokens kept per instruction, 1..256
 *     ngram_min, ngram_max    [0, 0] code-point n-grams per word (0, 0: whole words only), 0..8; n-grams
 *                             help unseen inflections but dilute the side word in the mean
 *     dim                     [64] token embedding size
 *     hidden                  [128] the output MLP's hidden size
 *     out_dim                 [64] instruction embedding size
 *     layers, heads, ff       [1, 2, 128] the transformer encoder (encoder "transformer" only)
 *   fusion.
 *     kind                    ["concat"] "film" (the instruction scales and shifts encoder channels) or
 *                             "concat" (the instruction embedding is concatenated to the pooled feature)
 *     stages                  [the middle block and the last: {n/2 - 1, n - 1}] block indices (0-based)
 *                             whose outputs FiLM modulates, 1..8 distinct values (film only)
 *   head.                     temporal head over a window of frames
 *     kind                    ["lstm"] "none" (MLP on the current frame), "lstm", "transformer" (causal)
 *     window                  [16] frames per window W, 1..64 ("none" needs 1)
 *     hidden                  [128] MLP / LSTM hidden size
 *     layers                  [1] LSTM or transformer layers, 1..8
 *     heads, ff               [4, 256] transformer attention heads (dividing feature_dim) and MLP size
 *   action.
 *     kind                    ["continuous"] "continuous" (K x 3 values, tanh, normalised units) or
 *                             "discrete" (K x 11 logits over the teleop keys)
 *     chunk                   [4] future actions predicted per step K, 1..64
 *     loss                    ["l1"] continuous: "l1", "huber" or "mse"
 *     huber_delta             [1.0] > 0
 *     key_value               [1.15] the teleop keys' speed (discrete targets and outputs)
 *     ensemble                [false] temporal ensembling of overlapping chunks in step mode
 *     ensemble_m              [0.01] ACT's weight exp(-m i), i = 0 for the oldest chunk; >= 0 */
#ifndef MVLA_POLICY_CONFIG_H
#define MVLA_POLICY_CONFIG_H

#define STUDENT_MAX_BLOCKS 16
#define STUDENT_MAX_FILM 8
#define STUDENT_NAME_MAX 64
#define STUDENT_ACTION_DIMS 3   /* linear_x, linear_y, angular_z */
#define STUDENT_KEYS 11         /* the teleop key vocabulary */

typedef enum { BLOCK_ACT_RELU = 0, BLOCK_ACT_HARDSWISH } ActKind;
typedef enum { POOL_FLATTEN = 0, POOL_AVG } PoolKind;
typedef enum { INSTR_MEAN = 0, INSTR_TRANSFORMER } InstrEncoderKind;
typedef enum { FUSION_FILM = 0, FUSION_CONCAT } FusionKind;
typedef enum { HEAD_NONE = 0, HEAD_LSTM, HEAD_TRANSFORMER } HeadKind;
typedef enum { ACTION_CONTINUOUS = 0, ACTION_DISCRETE } ActionKind;
typedef enum { LOSS_L1 = 0, LOSS_HUBER, LOSS_MSE } LossKind;

typedef struct {
    int kernel, expand, out, stride, se;
    ActKind act;
} BlockConfig;

typedef struct {
    int input_width, input_height;
    double width_mult;
    int stem_channels;
    ActKind stem_act;
    int n_blocks;
    BlockConfig blocks[STUDENT_MAX_BLOCKS];
    double se_ratio;
    int final_channels;
    ActKind final_act;
    PoolKind pool;
    double bn_momentum, bn_eps;
    double pixel_mean[3], pixel_std[3];
} EncoderConfig;

typedef struct {
    InstrEncoderKind encoder;
    int vocab, max_tokens, ngram_min, ngram_max;
    int dim, hidden, out_dim;
    int layers, heads, ff;
} InstrConfig;

typedef struct {
    char name[STUDENT_NAME_MAX];
    int feature_dim;
    double dropout;
    EncoderConfig encoder;
    InstrConfig instruction;
    FusionKind fusion;
    int n_film, film_stages[STUDENT_MAX_FILM];   /* sorted ascending */
    struct {
        HeadKind kind;
        int window, hidden, layers, heads, ff;
    } head;
    struct {
        ActionKind kind;
        int chunk;
        LossKind loss;
        double huber_delta, key_value;
        int ensemble;
        double ensemble_m;
    } action;
} StudentConfig;

/* Every default (the config `{}` describes). */
void student_config_default(StudentConfig *c);
/* Parses JSON text (source_name labels errors, e.g. the file's path) over the defaults. On failure
 * *c holds the defaults and the message names the key. */
int student_config_parse(StudentConfig *c, const char *json_text, const char *source_name);
int student_config_load(StudentConfig *c, const char *path);
/* The full config as indented JSON (malloc'd; free()). NULL when out of memory. */
char *student_config_to_json(const StudentConfig *c);
/* Checks the cross-field rules too (the parser calls it); for configs built in code. */
int student_config_validate(const StudentConfig *c, const char *source_name);

/* Width multiplier rounding: round(c * mult) to a multiple of 8, >= 8 and >= 90% of c * mult. */
int student_scaled_channels(int channels, double mult);

/* Names for the enums ("relu", "flatten", "mean", "film", "lstm", "continuous", "l1", ...). */
const char *act_kind_name(ActKind k);
const char *head_kind_name(HeadKind k);
const char *action_kind_name(ActionKind k);
const char *loss_kind_name(LossKind k);
const char *fusion_kind_name(FusionKind k);

#endif
