/* INT8 inference for the student policy: an inference engine for the frame encoder and the temporal
 * head that runs the policy's GEMM layers with int8 weights and activations (tensor/int8_gemm.h) and
 * the rest in fp32, channels-last.
 *
 * What runs in int8 ("sites", each one weight matrix; student_int8_sites lists them in order):
 *   encoder.blocks.<i>.expand.weight, encoder.blocks.<i>.project.weight   1x1 convs: GEMMs over pixels
 *   encoder.final.conv.weight                                             1x1 conv
 *   neck.weight                           its image columns (the instruction columns of "concat" fusion
 *                                         run in fp32 from the dequantised weights: other units)
 *   head.lstm.weight_ih_l<k>, head.lstm.weight_hh_l<k>                    head "lstm"
 *   head.mlp.weight                                                       head "none"
 * Everything else stays fp32: the stem (3 input channels), the depthwise convs (no reuse of weights
 * to amortise quantisation), squeeze-excite, FiLM, the instruction encoder (once per episode), the
 * output linear (the action itself) and the transformer head (which runs on the graph, as in fp32).
 *
 * Weights: symmetric per output channel, q in -127..127, w = q * scale[row] (the scale of the
 * unfolded weight; batch norm's per-channel factor is folded into it here). Activations: the input of
 * each site is quantised per tensor, asymmetric u8, q = round(x / in_scale) + in_zero, with scales
 * fixed ahead of time by calibration (runtime/quantize.h).
 *
 * The engine hangs off a folded policy (p->int8, owned by it; student_free frees it). Attached with
 * no quantised weights it runs every site in fp32: the calibration pass, with an observer that sees
 * each site's input. Once attached, the policy's eval-mode forward (student_forward, the runner)
 * goes through it; it allocates only from the graph's arena, on one thread. */
#ifndef MVLA_POLICY_INT8_H
#define MVLA_POLICY_INT8_H

#include "models/policy.h"
#include "tensor/int8_gemm.h"

#define STUDENT_INT8_MAX_SITES 64

typedef struct {
    const char *name;   /* the weight's checkpoint name (points into the policy's parameter list) */
    int rows, cols;     /* the weight as a matrix: [out, in] (a conv's [out, in, 1, 1]) */
} StudentQSite;

/* The sites of p in execution order; returns their count (<= max). */
int student_int8_sites(const StudentPolicy *p, StudentQSite *sites, int max);

/* One quantised site as a model file stores it. */
typedef struct {
    const char *name;
    const int8_t *q;      /* rows x cols, row-major, -127..127 */
    const float *scale;   /* [rows] > 0 */
    float in_scale;       /* > 0 */
    int in_zero;          /* 0..255 */
} StudentQWeight;

/* Attaches the engine to p (batch norm folded), replacing one already attached: the n weights run
 * in int8 (each must be a site, with its shape), every other site in fp32. */
int student_int8_attach(StudentPolicy *p, const StudentQWeight *w, int n);
void student_int8_detach(StudentPolicy *p);
/* Sites running in int8 (0: the fp32 engine). */
int student_int8_count(const StudentPolicy *p);

/* Called with the fp32 input of every site as it runs: rows x cols values, row stride ld. */
typedef void (*StudentInt8Observer)(void *ctx, int site, const float *x, int rows, int cols, int ld);
void student_int8_set_observer(StudentPolicy *p, StudentInt8Observer fn, void *ctx);
/* The GEMM kernel (default i8_kernel_best()); must be available on this CPU. */
int student_int8_set_kernel(StudentPolicy *p, I8Kernel k);

/* ---- the forward pieces (policy.c calls them when p->int8 is set, in eval mode) ---- */

/* student_frame_features: x [N, 3, H, W], cond [N, E] -> [N, D]. */
Tensor *student_int8_frame_features(Graph *g, StudentPolicy *p, Tensor *x, Tensor *cond);
/* Whether the engine runs this head kind ("lstm", "none"); otherwise the graph does. */
int student_int8_runs_head(const StudentPolicy *p);
/* student_head: feats [B, W, D] (padding already mixed in) -> [B, K, out_dim]. */
Tensor *student_int8_head(Graph *g, StudentPolicy *p, Tensor *feats);

#endif
