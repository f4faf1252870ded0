/* mvla train-demo: trains the small conv + LSTM + linear network of src/train/toy.h on synthetic
 * sequences, evaluates it on held-out sequences, saves a checkpoint and reloads it. */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "nn/checkpoint.h"
#include "train/toy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: mvla train-demo [--steps N] [--seed S] [--sequences N] [--batch N] [--lr X] [--out DIR]\n"
                "Trains a conv + LSTM + linear network to predict the velocity of a square drifting over\n"
                "synthetic frames; writes DIR/toy.safetensors (default DIR: demo-out) and reloads it.\n");
}

static void on_step(void *user, long step, long total, float loss, float lr)
{
    char extra[64];
    snprintf(extra, sizeof extra, "loss %.5f lr %.2e", loss, lr);
    (void)total;
    progress_update(user, step, extra);
}

/* Mean squared error of always predicting zero: the scale a trained loss is judged against. */
static float zero_baseline(const ToyData *d)
{
    double s = 0;
    for (long i = 0; i < d->targets->numel; i++) s += (double)d->targets->data[i] * d->targets->data[i];
    return (float)(s / d->targets->numel);
}

int cmd_train_demo(int argc, char **argv)
{
    ToyConfig cfg = toy_default_config();
    const char *out_dir = "demo-out";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mvla train-demo: %s needs a value\n", a);
            return 2;
        }
        i++;
        char *end;
        double x = strtod(v, &end);
        int bad = *end != '\0';
        if (!strcmp(a, "--steps")) cfg.steps = (int)x, bad |= x < 1;
        else if (!strcmp(a, "--seed")) cfg.seed = (uint64_t)x, bad |= x < 0;
        else if (!strcmp(a, "--sequences")) cfg.sequences = (int)x, bad |= x < 1;
        else if (!strcmp(a, "--batch")) cfg.batch = (int)x, bad |= x < 1 || x > 256;
        else if (!strcmp(a, "--lr")) cfg.lr = (float)x, bad |= !(x > 0);
        else if (!strcmp(a, "--out")) out_dir = v, bad = 0;
        else {
            fprintf(stderr, "mvla train-demo: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "mvla train-demo: %s: invalid value '%s'\n", a, v);
            return 2;
        }
    }
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mvla train-demo: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    ToyData train, held_out;
    ToyNet net, reloaded;
    memset(&reloaded, 0, sizeof reloaded);
    int rc = toy_data_make(&train, cfg.sequences, &cfg, cfg.seed);
    if (!rc) rc = toy_data_make(&held_out, 32, &cfg, cfg.seed + 1000);
    if (!rc) rc = toy_net_init(&net, &cfg);
    if (rc) {
        fprintf(stderr, "mvla train-demo: %s\n", mvla_error_message());
        return 1;
    }
    printf("toy task: %d training sequences of %d frames %dx%d, network with %ld parameters\n", train.n,
           cfg.seq_len, cfg.image, cfg.image, params_numel(&net.params));
    Progress bar;
    progress_start(&bar, "train", cfg.steps, "step");
    double t0 = time_now();
    rc = toy_train(&net, &train, &cfg, on_step, &bar);
    progress_finish(&bar);
    double seconds = time_now() - t0;
    char path[1024];
    snprintf(path, sizeof path, "%s/toy.safetensors", out_dir);
    char meta[256];
    snprintf(meta, sizeof meta, "{\"task\":\"toy\",\"steps\":%d,\"seed\":%llu,\"image\":%d,\"seq_len\":%d}", cfg.steps,
             (unsigned long long)cfg.seed, cfg.image, cfg.seq_len);
    if (!rc) rc = checkpoint_save(path, &net.params, NULL, cfg.steps, meta);
    if (!rc) rc = toy_net_init(&reloaded, &cfg);
    if (!rc) rc = checkpoint_load(path, &reloaded.params, NULL, NULL, NULL);
    float *a = NULL, *b = NULL;
    long n = held_out.targets->numel;
    if (!rc) {
        a = malloc((size_t)n * sizeof *a), b = malloc((size_t)n * sizeof *b);
        if (!a || !b) rc = MVLA_ERR_NOMEM;
    }
    if (!rc) rc = toy_predict(&net, &held_out, held_out.n, a);
    if (!rc) rc = toy_predict(&reloaded, &held_out, held_out.n, b);
    if (!rc) {
        float train_mse = toy_eval_mse(&net, &train), test_mse = toy_eval_mse(&net, &held_out);
        printf("trained %d steps in %.1f s (%.1f steps/s)\n", cfg.steps, seconds, cfg.steps / seconds);
        printf("mse: train %.5f, held-out %.5f (predicting zero: %.4f)\n", train_mse, test_mse,
               zero_baseline(&held_out));
        int same = memcmp(a, b, (size_t)n * sizeof *a) == 0;
        printf("checkpoint %s reloaded: %s\n", path, same ? "identical outputs" : "OUTPUTS DIFFER");
        if (!same) rc = 1;
    } else {
        fprintf(stderr, "mvla train-demo: %s\n", mvla_error_message());
    }
    free(a), free(b);
    toy_net_free(&net);
    toy_net_free(&reloaded);
    toy_data_free(&train);
    toy_data_free(&held_out);
    return rc ? 1 : 0;
}
