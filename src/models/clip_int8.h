/* INT8 inference for the CLIP vision tower (inference only, no autograd).
 *
 * clip_vision_int8_new quantises, once, the tower's linear layers of a loaded ClipModel: the patch
 * embedding (as a GEMM on the flattened patches) and every block's q/k/v/out projections and MLP fc1/fc2.
 * Weights are symmetric s8 per output channel (scale = max|w_row| / 127). Activations are quantised
 * dynamically per row (one scale per token): u8 with zero point 128, scale = max|x_row| / 127, so no
 * calibration data is needed. The GEMMs run on the int8 kernels (tensor/int8_gemm.h, the fastest one the
 * CPU has) split over OpenMP threads in row x column tiles; each tile's result does not depend on the
 * thread count, so outputs are identical for any number of threads.
 *   y[m][n] = ((acc[m][n] - 128 wsum[n]) sw[n]) sa[m] + bias[n] (+ residual[m][n])
 * Layer norms, attention (softmax), the MLP activation, the class-token pooling and the visual projection
 * stay fp32 on the engine's ops, exactly as clip_vision_forward computes them.
 *
 * The int8 model keeps a pointer to the ClipModel (norms, embeddings, biases, projection): free it first.
 * The forward needs a Graph with gradients disabled (graph_set_grad(g, 0)); its outputs are step tensors
 * (valid until graph_reset) and a steady-state call allocates nothing beyond the graph arena. */
#ifndef MVLA_MODELS_CLIP_INT8_H
#define MVLA_MODELS_CLIP_INT8_H

#include "models/clip.h"
#include "tensor/int8_gemm.h"

typedef struct ClipVisionInt8 ClipVisionInt8;

/* Quantises m's vision tower (which must be loaded). The kernel is i8_kernel_best(). */
int clip_vision_int8_new(ClipVisionInt8 **out, const ClipModel *m);
void clip_vision_int8_free(ClipVisionInt8 *q);

/* Selects the GEMM kernel (one that runs here, i8_kernel_available) e.g. to compare with the reference. */
int clip_vision_int8_set_kernel(ClipVisionInt8 *q, I8Kernel k);
I8Kernel clip_vision_int8_kernel(const ClipVisionInt8 *q);

/* Same contract and outputs as clip_vision_forward (pixel_values [B, C, R, R] -> last_hidden_state,
 * pooled, embeds, and hidden_states with want_hidden), computed with the int8 linear layers. */
int clip_vision_int8_forward(Graph *g, const ClipVisionInt8 *q, Tensor *pixel_values, int want_hidden,
                             ClipOutput *out);

#endif
