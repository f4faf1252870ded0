#include "train/toy.h"

#include "base/error.h"
#include "tensor/ops_activation.h"
#include "tensor/ops_loss.h"
#include "tensor/ops_shape.h"
#include "tensor/schedule.h"

#include <stdlib.h>
#include <string.h>

ToyConfig toy_default_config(void)
{
    return (ToyConfig){.image = 16, .seq_len = 6, .sequences = 64, .batch = 16, .steps = 300, .lr = 3e-3f, .seed = 1};
}

int toy_net_init(ToyNet *net, const ToyConfig *cfg)
{
    memset(net, 0, sizeof *net);
    params_init(&net->params);
    net->image = cfg->image;
    if (cfg->image < 8 || cfg->image % 4)
        return mvla_fail(MVLA_ERR_ARG, "toy: image side %d, expected a multiple of 4, at least 8", cfg->image);
    Rng rng;
    rng_seed(&rng, cfg->seed * 2 + 1);
    int flat = 16 * (cfg->image / 4) * (cfg->image / 4), rc;
    if ((rc = conv2d_init(&net->conv1, &net->params, "conv1", 3, 8, 3, 2, 1, 1, 1, &rng)) ||
        (rc = conv2d_init(&net->conv2, &net->params, "conv2", 8, 16, 3, 2, 1, 1, 1, &rng)) ||
        (rc = linear_init(&net->proj, &net->params, "proj", flat, 64, 1, &rng)) ||
        (rc = lstm_init(&net->lstm, &net->params, "lstm", 64, 64, 2, &rng)) ||
        (rc = linear_init(&net->head, &net->params, "head", 64, 2, 1, &rng))) {
        toy_net_free(net);
        return rc;
    }
    return MVLA_OK;
}

void toy_net_free(ToyNet *net) { params_free(&net->params, 1); }

Tensor *toy_net_forward(Graph *g, const ToyNet *net, Tensor *frames, int batch, int seq_len)
{
    Tensor *x = op_relu(g, conv2d_forward(g, &net->conv1, frames));
    x = op_relu(g, conv2d_forward(g, &net->conv2, x));
    x = op_reshape(g, x, 3, (int[]){batch, seq_len, -1});
    x = op_relu(g, linear_forward(g, &net->proj, x));
    x = lstm_forward(g, &net->lstm, x, NULL, NULL, NULL, NULL);
    return linear_forward(g, &net->head, x);
}

/* One sequence: a 3x3 square of a random colour moving by (vx, vy) per frame over N(0, 0.05) noise. */
static void draw_sequence(float *frames, float *targets, int T, int S, Rng *rng)
{
    int vx = (int)rng_below(rng, 3) - 1, vy = (int)rng_below(rng, 3) - 1;
    int span = S - 3 - (T - 1); /* start positions that keep the square inside for T frames */
    int x0 = (int)rng_below(rng, (uint32_t)span) + (vx < 0 ? T - 1 : 0);
    int y0 = (int)rng_below(rng, (uint32_t)span) + (vy < 0 ? T - 1 : 0);
    float colour[3];
    for (int c = 0; c < 3; c++) colour[c] = 0.5f + 0.5f * rng_uniform(rng);
    for (int t = 0; t < T; t++) {
        float *f = frames + (long)t * 3 * S * S;
        for (long i = 0; i < 3L * S * S; i++) f[i] = 0.05f * rng_normal(rng);
        int x = x0 + vx * t, y = y0 + vy * t;
        for (int c = 0; c < 3; c++)
            for (int dy = 0; dy < 3; dy++)
                for (int dx = 0; dx < 3; dx++) f[(long)c * S * S + (y + dy) * S + x + dx] += colour[c];
        targets[t * 2] = t ? (float)vx : 0.0f;
        targets[t * 2 + 1] = t ? (float)vy : 0.0f;
    }
}

int toy_data_make(ToyData *d, int sequences, const ToyConfig *cfg, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    int T = cfg->seq_len, S = cfg->image;
    if (T < 2 || S - 3 - (T - 1) < 1)
        return mvla_fail(MVLA_ERR_ARG, "toy: %d frames do not fit a %dx%d image", T, S, S);
    d->frames = tensor_new_shape(4, sequences * T, 3, S, S);
    d->targets = tensor_new_shape(3, sequences, T, 2);
    if (!d->frames || !d->targets) {
        toy_data_free(d);
        return MVLA_ERR_NOMEM;
    }
    d->n = sequences, d->seq_len = T, d->image = S;
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < sequences; i++)
        draw_sequence(d->frames->data + (long)i * T * 3 * S * S, d->targets->data + (long)i * T * 2, T, S, &rng);
    return MVLA_OK;
}

void toy_data_free(ToyData *d)
{
    tensor_free(d->frames);
    tensor_free(d->targets);
    memset(d, 0, sizeof *d);
}

/* Copies sequences idx[0..n) into step tensors frames [n*T,3,S,S] and targets [n,T,2]. */
static int gather_batch(Graph *g, const ToyData *d, const int *idx, int n, Tensor **frames, Tensor **targets)
{
    int T = d->seq_len, S = d->image;
    long fsz = (long)T * 3 * S * S, tsz = (long)T * 2;
    *frames = graph_tensor(g, 4, (int[]){n * T, 3, S, S});
    *targets = graph_tensor(g, 3, (int[]){n, T, 2});
    if (!*frames || !*targets) return MVLA_ERR_NOMEM;
    for (int b = 0; b < n; b++) {
        memcpy((*frames)->data + b * fsz, d->frames->data + idx[b] * fsz, (size_t)fsz * sizeof(float));
        memcpy((*targets)->data + b * tsz, d->targets->data + idx[b] * tsz, (size_t)tsz * sizeof(float));
    }
    return MVLA_OK;
}

int toy_train(ToyNet *net, const ToyData *d, const ToyConfig *cfg, ToyStepFn on_step, void *user)
{
    OptimConfig oc = {.lr = cfg->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-4f};
    Optimizer *opt = optim_new(OPTIM_ADAMW, &net->params, &oc);
    Graph *g = graph_new();
    int idx[256], rc = MVLA_OK;
    if (!opt || !g) {
        rc = MVLA_ERR_NOMEM;
        goto done;
    }
    if (cfg->batch < 1 || cfg->batch > 256) {
        rc = mvla_fail(MVLA_ERR_ARG, "toy: batch %d, expected 1..256", cfg->batch);
        goto done;
    }
    LrSchedule sched = {.kind = LR_WARMUP_COSINE, .base_lr = cfg->lr, .warmup_steps = cfg->steps / 10,
                        .total_steps = cfg->steps, .min_lr = cfg->lr * 0.01f};
    Rng rng;
    rng_seed(&rng, cfg->seed * 2 + 2);
    for (long step = 0; step < cfg->steps; step++) {
        graph_reset(g);
        for (int b = 0; b < cfg->batch; b++) idx[b] = (int)rng_below(&rng, (uint32_t)d->n);
        Tensor *frames, *targets;
        if ((rc = gather_batch(g, d, idx, cfg->batch, &frames, &targets))) goto done;
        Tensor *loss = op_mse_loss(g, toy_net_forward(g, net, frames, cfg->batch, d->seq_len), targets);
        if (!loss) {
            rc = mvla_fail(MVLA_ERR_ARG, "toy: step %ld: %s", step, mvla_error_message());
            goto done;
        }
        optim_zero_grad(opt);
        if ((rc = graph_backward(g, loss, NULL))) goto done;
        clip_grad_norm(&net->params, 1.0f);
        float lr = lr_at(&sched, step);
        if ((rc = optim_step(opt, lr))) goto done;
        if (on_step) on_step(user, step + 1, cfg->steps, loss->data[0], lr);
    }
done:
    graph_free(g);
    optim_free(opt);
    return rc;
}

int toy_predict(ToyNet *net, const ToyData *d, int n, float *out)
{
    Graph *g = graph_new();
    if (!g) return MVLA_ERR_NOMEM;
    graph_set_grad(g, 0);
    int rc = MVLA_OK;
    for (int start = 0; start < n && !rc; start += 16) {
        int idx[16], m = n - start < 16 ? n - start : 16;
        for (int b = 0; b < m; b++) idx[b] = start + b;
        graph_reset(g);
        Tensor *frames, *targets, *pred = NULL;
        rc = gather_batch(g, d, idx, m, &frames, &targets);
        if (!rc && !(pred = toy_net_forward(g, net, frames, m, d->seq_len))) rc = MVLA_ERR_ARG;
        if (!rc) memcpy(out + (long)start * d->seq_len * 2, pred->data, (size_t)pred->numel * sizeof(float));
    }
    graph_free(g);
    return rc;
}

float toy_eval_mse(ToyNet *net, const ToyData *d)
{
    long n = d->targets->numel;
    float *pred = malloc((size_t)n * sizeof *pred);
    if (!pred || toy_predict(net, d, d->n, pred)) {
        free(pred);
        return -1;
    }
    double se = 0;
    for (long i = 0; i < n; i++) se += (double)(pred[i] - d->targets->data[i]) * (pred[i] - d->targets->data[i]);
    free(pred);
    return (float)(se / n);
}
