/* A small synthetic sequence task that exercises the whole engine end to end (conv, LSTM, linear,
 * MSE, AdamW, warmup + cosine, clipping, checkpoints) until the real policy exists.
 *
 * A coloured square drifts across a noisy image at a constant velocity (vx, vy), each in
 * {-1, 0, +1} pixels per frame. At every frame the network predicts that velocity from the
 * frames seen so far (frame 0: nothing to compare, the target is 0). One frame alone cannot
 * tell the velocity: the network has to compare frames through its LSTM.
 *
 * Network: conv 3->8 (3x3, stride 2) -> ReLU -> conv 8->16 (3x3, stride 2) -> ReLU -> flatten
 *          -> linear 64 -> ReLU -> LSTM (2 layers, 64) -> linear 2. */
#ifndef MVLA_TOY_H
#define MVLA_TOY_H

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "tensor/optim.h"

#include <stdint.h>

typedef struct {
    int image;      /* side of the square images */
    int seq_len;    /* frames per sequence */
    int sequences;  /* size of the fixed training set */
    int batch;      /* sequences per step */
    int steps;      /* training steps */
    float lr;       /* peak learning rate (AdamW, 10% warmup then cosine) */
    uint64_t seed;  /* data, initialisation and batch order */
} ToyConfig;

/* image 16, 6 frames, 64 sequences, batch 16, 300 steps, lr 3e-3, seed 1. */
ToyConfig toy_default_config(void);

typedef struct {
    ParamList params;
    Conv2d conv1, conv2;
    Linear proj, head;
    LSTM lstm;
    int image;
} ToyNet;

int toy_net_init(ToyNet *net, const ToyConfig *cfg);
void toy_net_free(ToyNet *net);
/* frames [B*T, 3, S, S] -> predicted velocities [B, T, 2]. */
Tensor *toy_net_forward(Graph *g, const ToyNet *net, Tensor *frames, int batch, int seq_len);

typedef struct {
    Tensor *frames;   /* [N*T, 3, S, S] */
    Tensor *targets;  /* [N, T, 2] */
    int n, seq_len, image;
} ToyData;

int toy_data_make(ToyData *d, int sequences, const ToyConfig *cfg, uint64_t seed);
void toy_data_free(ToyData *d);

/* Called after every step (may be NULL). */
typedef void (*ToyStepFn)(void *user, long step, long total, float loss, float lr);

/* Trains net on d with a fresh AdamW; returns 0 or an error. */
int toy_train(ToyNet *net, const ToyData *d, const ToyConfig *cfg, ToyStepFn on_step, void *user);

/* Mean squared error of net over all of d (no gradients); -1 on failure. */
float toy_eval_mse(ToyNet *net, const ToyData *d);

/* Predictions for the first `n` sequences of d into out ([n, T, 2] floats). */
int toy_predict(ToyNet *net, const ToyData *d, int n, float *out);

#endif
