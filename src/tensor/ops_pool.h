/* Pooling over the spatial axes of NCHW tensors (PyTorch's max_pool2d, avg_pool2d, adaptive pools to 1x1).
 *
 *   windowed:  x [N, C, H, W] -> [N, C, Ho, Wo],  Ho = (H + 2 pad_h - kernel_h) / stride_h + 1  (floor)
 *   global:    x [N, C, H, W] (or any [N, C, ...]) -> [N, C]
 *
 * Padding follows PyTorch: at most half the kernel; max pooling never picks a padded position,
 * average pooling counts padded positions in the divisor unless count_include_pad is 0.
 * Sequence pooling ([B, T, D] -> [B, D]) is op_mean_dim / op_max_dim territory, not here. */
#ifndef MVLA_OPS_POOL_H
#define MVLA_OPS_POOL_H

#include "tensor/tensor.h"

typedef struct {
    int kernel_h, kernel_w;
    int stride_h, stride_w;   /* 0: the kernel size (PyTorch's default) */
    int pad_h, pad_w;
} Pool2dOpts;

/* Square settings: pool2d_opts(3, 2, 1) is a 3x3 window, stride 2, padding 1. */
Pool2dOpts pool2d_opts(int kernel, int stride, int pad);

/* x [N, C, H, W] -> [N, C, Ho, Wo]: the largest value of each window (NaN wins); backward routes
 * each output gradient to the position that was picked. */
Tensor *op_maxpool2d(Graph *g, Tensor *x, Pool2dOpts opts);

/* x [N, C, H, W] -> [N, C, Ho, Wo]: the mean of each window. count_include_pad: 1 divides by the
 * full window size (PyTorch's default), 0 by the number of positions inside the input. */
Tensor *op_avgpool2d(Graph *g, Tensor *x, Pool2dOpts opts, int count_include_pad);

/* x [N, C, ...] (at least 3-D) -> [N, C]: the mean / the maximum over all trailing axes. */
Tensor *op_global_avgpool(Graph *g, Tensor *x);
Tensor *op_global_maxpool(Graph *g, Tensor *x);

#endif
