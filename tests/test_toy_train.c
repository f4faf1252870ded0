/* End to end: the conv + LSTM + linear toy network trains to near-zero loss, the same way
 * twice for one seed, and its checkpoint reloads to identical outputs. */
#include "test.h"

#include "base/error.h"
#include "nn/checkpoint.h"
#include "train/toy.h"

#include <stdlib.h>
#include <string.h>

static ToyConfig small_config(void)
{
    ToyConfig cfg = toy_default_config();
    cfg.sequences = 32;
    cfg.steps = 300;
    cfg.lr = 0.01f;
    return cfg;
}

static float zero_mse(const ToyData *d)
{
    double s = 0;
    for (long i = 0; i < d->targets->numel; i++) s += (double)d->targets->data[i] * d->targets->data[i];
    return (float)(s / d->targets->numel);
}

TEST(toy_network_trains_to_near_zero_deterministically)
{
    ToyConfig cfg = small_config();
    ToyData data;
    ToyNet a, b;
    REQUIRE(toy_data_make(&data, cfg.sequences, &cfg, cfg.seed) == 0);
    REQUIRE(toy_net_init(&a, &cfg) == 0);
    REQUIRE(toy_net_init(&b, &cfg) == 0);
    float before = toy_eval_mse(&a, &data);
    REQUIRE(toy_train(&a, &data, &cfg, NULL, NULL) == 0);
    float after = toy_eval_mse(&a, &data), baseline = zero_mse(&data);
    CHECK_MSG(after >= 0 && after < 0.01f, "training mse %.5f after %d steps (before %.4f, predicting zero %.4f)",
              after, cfg.steps, before, baseline);
    CHECK(after < baseline / 50);
    /* Same seed, same data: bit-identical parameters. */
    REQUIRE(toy_train(&b, &data, &cfg, NULL, NULL) == 0);
    int same = 1;
    for (int i = 0; i < a.params.count; i++) {
        Tensor *x = a.params.items[i].tensor, *y = b.params.items[i].tensor;
        same &= memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)) == 0;
    }
    CHECK_MSG(same, "two trainings with seed %llu ended with different parameters", (unsigned long long)cfg.seed);
    toy_net_free(&a);
    toy_net_free(&b);
    toy_data_free(&data);
}

TEST(toy_checkpoint_reloads_to_identical_outputs)
{
    ToyConfig cfg = small_config();
    cfg.steps = 20;
    ToyData data;
    ToyNet net, fresh;
    REQUIRE(toy_data_make(&data, 8, &cfg, 5) == 0);
    REQUIRE(toy_net_init(&net, &cfg) == 0);
    REQUIRE(toy_train(&net, &data, &cfg, NULL, NULL) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/toy.safetensors", test_tmpdir());
    REQUIRE(checkpoint_save(path, &net.params, NULL, cfg.steps, "{\"task\":\"toy\"}") == 0);
    cfg.seed = 99; /* a different initialisation, overwritten by the load */
    REQUIRE(toy_net_init(&fresh, &cfg) == 0);
    long n = data.targets->numel;
    float *p = malloc((size_t)n * sizeof *p), *q = malloc((size_t)n * sizeof *q);
    REQUIRE(p && q);
    REQUIRE(toy_predict(&net, &data, data.n, p) == 0);
    REQUIRE(toy_predict(&fresh, &data, data.n, q) == 0);
    CHECK(memcmp(p, q, (size_t)n * sizeof *p) != 0);
    long step = 0;
    REQUIRE(checkpoint_load(path, &fresh.params, NULL, &step, NULL) == 0);
    CHECK(step == cfg.steps);
    REQUIRE(toy_predict(&fresh, &data, data.n, q) == 0);
    CHECK_MSG(memcmp(p, q, (size_t)n * sizeof *p) == 0, "reloaded outputs differ by up to %g", max_abs_diff(p, q, n));
    free(p);
    free(q);
    toy_net_free(&net);
    toy_net_free(&fresh);
    toy_data_free(&data);
}
