/* The int8 engine's state, shared by policy_int8.c (building it) and policy_int8_forward.c (running
 * it). Not a public API: see policy_int8.h. */
#ifndef MVLA_POLICY_INT8_INTERNAL_H
#define MVLA_POLICY_INT8_INTERNAL_H

#include "models/policy_int8.h"

/* One GEMM layer y[M][n] = act(x[M][k] W^T + bias) (+ add), int8 or fp32. */
typedef struct {
    int site;             /* index into the sites, for the observer */
    int n, k;
    int int8;
    I8Weights w;          /* int8: packed q */
    float *scale;         /* int8: [n] in_scale * weight scale (batch norm folded in) */
    float inv_in_scale;
    int zero;
    float *wf;            /* fp32 layers: [n][k] folded (the neck's columns in channels-last order) */
    const float *bias;    /* [n] or NULL; borrowed or bias_own */
    float *bias_own;
} QLayer;

typedef struct {
    QLayer expand, project;
    float *dw_w;          /* [k*k][C] channels-last taps */
} QBlock;

struct StudentInt8 {
    I8Kernel kernel;
    int n_sites, n_int8;
    StudentQSite sites[STUDENT_INT8_MAX_SITES];
    float *stem_w;        /* [3*kh*kw][C0] */
    QBlock blk[STUDENT_MAX_BLOCKS];
    QLayer final, neck, mlp;
    float *neck_cond;     /* concat fusion: the instruction columns of the neck, [D][E] fp32 */
    QLayer ih[LSTM_MAX_LAYERS], hh[LSTM_MAX_LAYERS];
    StudentInt8Observer observe;
    void *observe_ctx;
};

/* y[M][n] (row stride ldy) = act(x W^T + bias [+ extra_bias]) (+ add): quantises x when the layer is
 * int8, reports x to the observer. extra_bias: NULL or [n] replacing bias. Scratch from g. */
int qlayer_run(Graph *g, const struct StudentInt8 *q, const QLayer *L, int M, const float *x, int ldx, int act,
               const float *bias_override, const float *add, int ldadd, float *y, int ldy);

/* policy_int8_conv.c: the stem x [3][H][W] (CHW) -> y [Ho][Wo][C], w [3*k*k][C]; the depthwise conv
 * x [H][W][C] -> y [Ho][Wo][C], w [k*k][C], stride s, padding k/2; both with bias (or NULL) and act. */
void nhwc_stem_conv(const float *x, int H, int W, const float *w, const float *bias, int C, int k, Conv2dOpts o,
                    int act, float *y, int Ho, int Wo);
void nhwc_depthwise(const float *x, int H, int W, int C, const float *w, const float *bias, int k, int s, int act,
                    float *y, int Ho, int Wo);

#endif
