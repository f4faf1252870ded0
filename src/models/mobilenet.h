/* MobileNet-class image encoder (MobileNetV3's building blocks), configured by EncoderConfig
 * (src/models/policy_config.h):
 *   stem    conv 3x3 stride 2 (no bias) + BN + act                     [N,3,H,W] -> [N,C0,H/2,W/2]
 *   blocks  inverted residuals, each                                   [N,Cin,h,w] -> [N,Cout,h/s,w/s]
 *             expand 1x1 + BN + act      (skipped when expand == Cin)
 *             depthwise kxk stride s + BN + act
 *             squeeze-excite (optional): global avgpool -> linear reduce -> relu -> linear expand ->
 *               hardsigmoid -> per-channel scale
 *             project 1x1 + BN (no act)
 *             + input, when stride 1 and Cin == Cout
 *   final   conv 1x1 + BN + act (final_channels > 0; identity otherwise)
 * Padding is k/2 everywhere, so a side of n becomes (n - 1)/s + 1.
 * The encoder returns feature maps (not pooled vectors) so a caller can modulate them between
 * blocks (FiLM); the policy pools or flattens the last one.
 *
 * Checkpoint names under the prefix (e.g. "encoder"):
 *   <p>.stem.conv.weight, <p>.stem.bn.{weight,bias,running_mean,running_var}
 *   <p>.blocks.<i>.{expand,dw,project}.weight, <p>.blocks.<i>.{expand_bn,dw_bn,project_bn}.{...}
 *   <p>.blocks.<i>.se.reduce.{weight,bias}, <p>.blocks.<i>.se.expand.{weight,bias}   ([out, in], as nn.Linear)
 *   <p>.final.conv.weight, <p>.final.bn.{...}
 * BN weight/bias and every bias carry no weight decay; running statistics are buffers.
 *
 * Batch norm runs in training mode (batch statistics, running averages updated) or eval mode
 * (running statistics), chosen per call. mobilenet_fold_batchnorm folds every BN into its conv for
 * inference; a folded encoder runs in eval mode only and its parameters no longer match a
 * checkpoint (do not save or train it). */
#ifndef MVLA_MOBILENET_H
#define MVLA_MOBILENET_H

#include "models/policy_config.h"
#include "nn/conv.h"
#include "nn/linear.h"

/* A conv without bias followed by batch norm (and, after folding, the conv with a bias alone). */
typedef struct {
    Conv2d conv;
    Tensor *gamma, *beta, *running_mean, *running_var;
    Tensor *folded_bias; /* created by folding; owned here */
} ConvBN;

typedef struct {
    int in, expand, out, kernel, stride, residual, se_channels;
    ActKind act;
    int has_expand, has_se;
    ConvBN expand_cbn, dw, project;
    Linear se_reduce, se_expand;
} MBBlock;

typedef struct {
    EncoderConfig cfg;
    ConvBN stem, final;
    int has_final;
    int n_blocks;
    MBBlock blocks[STUDENT_MAX_BLOCKS];
    int stem_channels, stem_h, stem_w;
    int block_h[STUDENT_MAX_BLOCKS], block_w[STUDENT_MAX_BLOCKS]; /* each block's output size */
    int out_channels, out_h, out_w;                               /* mobilenet_forward's output */
    float bn_momentum, bn_eps;
    int folded;
} MobileNet;

/* Creates the parameters in p under prefix. Fails if the config does not fit (e.g. a feature map
 * shrinking below 1 pixel). */
int mobilenet_init(MobileNet *m, ParamList *p, const char *prefix, const EncoderConfig *c, Rng *rng);
/* Frees what the encoder owns (folded biases); the parameters belong to the ParamList. */
void mobilenet_free(MobileNet *m);

/* The stages, for callers that act between blocks. x [N,3,H,W] with H, W = the configured input. */
Tensor *mobilenet_stem(Graph *g, const MobileNet *m, Tensor *x, int training);
Tensor *mobilenet_block(Graph *g, const MobileNet *m, int i, Tensor *x, int training);
Tensor *mobilenet_final(Graph *g, const MobileNet *m, Tensor *x, int training);
/* All of them: [N,3,H,W] -> [N, out_channels, out_h, out_w]. */
Tensor *mobilenet_forward(Graph *g, const MobileNet *m, Tensor *x, int training);

/* Folds every batch norm into the conv before it (eval-mode outputs unchanged up to rounding). */
int mobilenet_fold_batchnorm(MobileNet *m);

/* Multiply-adds per image of a forward pass (convs, SE linears). */
long mobilenet_macs(const MobileNet *m);

/* The activation by kind. */
Tensor *mobilenet_act(Graph *g, ActKind k, Tensor *x);

#endif
