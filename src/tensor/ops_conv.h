/* 2-D convolution (PyTorch's nn.Conv2d / F.conv2d).
 *
 * Layout is NCHW everywhere and weights are in PyTorch layout:
 *   x    [N, Cin, H, W]
 *   w    [Cout, Cin / groups, kh, kw]
 *   bias [Cout] or NULL
 *   out  [N, Cout, Ho, Wo],  Ho = (H + 2 pad_h - dilation_h (kh - 1) - 1) / stride_h + 1  (floor), same for Wo.
 *
 * Three kernels, chosen automatically:
 *   - 1x1, stride 1, no padding: one GEMM per image and group, no im2col;
 *   - depthwise (groups == Cin == Cout): parallel over N*C; forward and backward of square 3x3 and 5x5
 *     kernels, stride 1 or 2, dilation 1 work on zero-padded copies of each plane (scratch in the graph
 *     arena, stride 2 split by row/column parity) with no bounds checks, each output's taps summed in a
 *     fixed order (results do not depend on the thread count); other shapes go tap by tap from x itself;
 *   - everything else: im2col (buffer in the graph arena) + GEMM per image and group.
 * Backward gives dx, dw and dbias for each of them. */
#ifndef MVLA_OPS_CONV_H
#define MVLA_OPS_CONV_H

#include "tensor/tensor.h"

/* Zero-initialised fields take PyTorch's defaults: stride 1, padding 0, dilation 1, groups 1. */
typedef struct {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
    int groups;
} Conv2dOpts;

/* Square settings: conv2d_opts(2, 1, 1) is stride 2, padding 1, groups 1 (dilation 1). */
Conv2dOpts conv2d_opts(int stride, int pad, int groups);

/* x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] or NULL -> [N, Cout, Ho, Wo]. */
Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *bias, Conv2dOpts opts);

#endif
