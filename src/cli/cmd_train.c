/* mvla train: config + split manifest + dataset -> a run folder (src/train/trainer.h), with a progress
 * bar (step rate, ETA, loss) and one summary line per epoch. */
#include "cli/commands_train.h"

#include "base/error.h"
#include "base/progress.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla train --data DIR --manifest SPLIT.json --out RUN [options]\n"
            "       mvla train --out RUN --resume [--max-steps N]\n"
            "  Trains the student policy on the manifest's training episodes, validates every epoch and\n"
            "  writes RUN/{config.json, run.json, metrics.jsonl, curves.svg, checkpoints/best.safetensors,\n"
            "  checkpoints/last.safetensors}. best.safetensors is the model file for `mvla eval`.\n"
            "options:\n"
            "  --config FILE      training config JSON {\"preset\", \"policy\", \"train\", \"data\"} (src/train/train_config.h)\n"
            "  --preset NAME      without --config: \"student\" (default), \"tiny\", or a head on a frozen CLIP\n"
            "                     backbone: \"clip-mlp\" (Simple CLIP), \"clip-lstm\", \"clip-aug\" (augmented copies),\n"
            "                     \"clip-resampler\" (Enhanced: resampler + CLIP normalisation)\n"
            "  --backbone DIR     the clip-* presets' Hugging Face CLIP folder (config.json, model.safetensors,\n"
            "                     vocab.json, merges.txt); its features are computed once into CACHE.features/\n"
            "  --epochs N  --batch-size N  --lr X  --weight-decay X  --warmup FRACTION  --clip X\n"
            "  --steps N          train about N optimiser steps (whole epochs) instead of --epochs\n"
            "  --patience N  --seed N      override the config's train.* values\n"
            "  --init CKPT        start from the weights of a student checkpoint of mvla train (train.init;\n"
            "                     train.init_parts \"encoder\" takes only its image encoder)\n"
            "  --select val_mae|sim  the best checkpoint: lowest validation MAE (default), or highest closed-loop\n"
            "                     success in the built-in simulator (data from `mvla sim generate`; train.select_*)\n"
            "  --cache PATH       frame cache (default RUN/frames.cache; rebuilt when the sources change)\n"
            "  --fold K           train fold K of a K-fold manifest\n"
            "  --folds K          train every fold of a K-fold manifest into RUN/fold_k, evaluate each on the\n"
            "                     test set, and write RUN/folds.json (mean and std of val and test MAE)\n"
            "  --resume           continue RUN from checkpoints/last.safetensors (same result as uninterrupted)\n"
            "  --max-steps N      stop after N optimiser steps in total, as an interruption would\n"
            "  --threads N        threads (also `mvla --threads N train ...`)\n"
            "  --quiet            no progress bar or epoch lines\n");
}

typedef struct {
    Progress bar, feat;
    int started, quiet, fold, feat_started;
    long first_step;
    char label[32];
} Ui;

static void on_step(void *ctx, const TrainProgress *p)
{
    Ui *u = ctx;
    if (u->quiet) return;
    if (!u->started || u->fold != p->fold) {
        if (p->fold >= 0) snprintf(u->label, sizeof u->label, "fold %d", p->fold);
        else snprintf(u->label, sizeof u->label, "train");
        u->first_step = p->step - 1;
        progress_start(&u->bar, u->label, p->total_steps - u->first_step, "step");
        u->started = 1;
        u->fold = p->fold;
    }
    char extra[96];
    snprintf(extra, sizeof extra, "epoch %d/%d loss %.4f lr %.2e", p->epoch, p->epochs, p->loss, p->lr);
    progress_update(&u->bar, p->step - u->first_step, extra);
}

static void on_features(void *ctx, long done, long total)
{
    Ui *u = ctx;
    if (u->quiet) return;
    if (!u->feat_started) progress_start(&u->feat, "backbone features", total, "frame");
    u->feat_started = 1;
    progress_update(&u->feat, done, NULL);
    if (done >= total) {
        progress_finish(&u->feat);
        u->feat_started = 0;
    }
}

static void on_epoch(void *ctx, const TrainEpochInfo *e)
{
    Ui *u = ctx;
    if (u->quiet) return;
    if (u->bar.tty) fprintf(stderr, "\r\033[K");
    if (e->fold >= 0) fprintf(stderr, "fold %d ", e->fold);
    fprintf(stderr, "epoch %3d  step %6ld  train loss %.4f", e->epoch, e->step, e->train_loss);
    if (isfinite(e->val_mae)) fprintf(stderr, "  val loss %.4f  val MAE %.4f", e->val_loss, e->val_mae);
    if (isfinite(e->sim_success)) fprintf(stderr, "  sim success %5.1f%%", 100 * e->sim_success);
    if (e->best) fprintf(stderr, "  *best");
    fprintf(stderr, "\n");
}

/* Parsers: 0 on success; an error message naming the option otherwise. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < lo || v > hi) {
        fprintf(stderr, "mvla train: %s: expected an integer in %ld..%ld, got '%s'\n", opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "mvla train: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_train(int argc, char **argv)
{
    TrainOptions o;
    train_options_default(&o);
    Ui ui;
    memset(&ui, 0, sizeof ui);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double d;
        int bad = 0, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) o.resume = 1, takes = 0;
        else if (!strcmp(a, "--quiet")) ui.quiet = 1, takes = 0;
        else if (!v) {
            fprintf(stderr, "mvla train: %s needs a value (see mvla train --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--data")) o.data_dir = v;
        else if (!strcmp(a, "--manifest")) o.manifest = v;
        else if (!strcmp(a, "--out")) o.out_dir = v;
        else if (!strcmp(a, "--config")) o.config_path = v;
        else if (!strcmp(a, "--preset")) o.preset = v;
        else if (!strcmp(a, "--cache")) o.cache_path = v;
        else if (!strcmp(a, "--backbone")) o.backbone = v;
        else if (!strcmp(a, "--init")) o.init = v;
        else if (!strcmp(a, "--epochs")) bad = parse_long(a, v, 1, 100000, &n), o.epochs = (int)n;
        else if (!strcmp(a, "--steps")) bad = parse_long(a, v, 1, 100000000, &n), o.steps = n;
        else if (!strcmp(a, "--batch-size")) bad = parse_long(a, v, 1, 4096, &n), o.batch_size = (int)n;
        else if (!strcmp(a, "--patience")) bad = parse_long(a, v, 0, 100000, &n), o.patience = (int)n;
        else if (!strcmp(a, "--select")) {
            o.select = !strcmp(v, "sim") ? TRAIN_SELECT_SIM : !strcmp(v, "val_mae") ? TRAIN_SELECT_VAL_MAE : -1;
            if (o.select < 0) {
                fprintf(stderr, "mvla train: --select: expected val_mae or sim, got '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--seed")) bad = parse_long(a, v, 0, 1L << 53, &n), o.seed = n;
        else if (!strcmp(a, "--threads")) bad = parse_long(a, v, 1, 4096, &n), o.threads = (int)n;
        else if (!strcmp(a, "--max-steps")) bad = parse_long(a, v, 1, 1L << 50, &n), o.max_steps = n;
        else if (!strcmp(a, "--fold")) bad = parse_long(a, v, 0, 99, &n), o.fold = (int)n;
        else if (!strcmp(a, "--folds")) bad = parse_long(a, v, 2, 100, &n), o.folds = (int)n;
        else if (!strcmp(a, "--lr")) bad = parse_double(a, v, 1e-12, 1, &d), o.lr = d;
        else if (!strcmp(a, "--weight-decay")) bad = parse_double(a, v, 0, 1, &d), o.weight_decay = d;
        else if (!strcmp(a, "--warmup")) bad = parse_double(a, v, 0, 0.5, &d), o.warmup = d;
        else if (!strcmp(a, "--clip")) bad = parse_double(a, v, 0, 1e6, &d), o.clip = d;
        else {
            fprintf(stderr, "mvla train: unknown option '%s' (see mvla train --help)\n", a);
            return 2;
        }
        if (bad) return 2;
        i += takes;
    }
    if (!o.out_dir || (!o.resume && (!o.data_dir || !o.manifest)) || (o.folds && (!o.data_dir || !o.manifest))) {
        fprintf(stderr, "mvla train: --out, and --data and --manifest (except with --resume), are needed\n\n");
        usage(stderr);
        return 2;
    }
    if (o.resume && (o.config_path || o.preset || o.backbone || o.init || o.epochs >= 0 || o.steps > 0 || o.batch_size >= 0 || o.patience >= 0 ||
                     o.select >= 0 || o.seed >= 0 || o.lr >= 0 || o.weight_decay >= 0 || o.warmup >= 0 || o.clip >= 0)) {
        fprintf(stderr, "mvla train: --resume continues with RUN/config.json: --config, --preset, --backbone, --init and the train.* "
                        "overrides cannot be combined with it\n");
        return 2;
    }
    if (o.folds && o.fold >= 0) {
        fprintf(stderr, "mvla train: --fold and --folds exclude each other\n");
        return 2;
    }
    o.on_step = on_step;
    o.on_epoch = on_epoch;
    o.on_features = on_features;
    o.cb_ctx = &ui;
    TrainResult r;
    int rc = train_run(&o, &r);
    if (ui.started && !ui.quiet) progress_finish(&ui.bar);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    if (r.folds > 0) {
        printf("%d folds: val MAE %.4f +- %.4f", r.folds, r.val_mae_mean, r.val_mae_std);
        if (isfinite(r.test_mae_mean)) printf(", test MAE %.4f +- %.4f", r.test_mae_mean, r.test_mae_std);
        printf(" (mean +- sample std; %s/folds.json)\n", o.out_dir);
    } else {
        printf("%s: %s after %d epochs, %ld steps", o.out_dir, train_status_name(r.status), r.epochs_run, r.steps);
        if (isfinite(r.best_sim_success)) {
            printf("; best: epoch %d, closed-loop success on the instructed side %.1f%% of the selection rollouts",
                   r.best_epoch, 100 * r.best_sim_success);
            if (isfinite(r.best_val_mae)) printf(", val MAE %.4f", r.best_val_mae);
        } else if (isfinite(r.best_val_mae)) {
            printf("; best val MAE %.4f at epoch %d", r.best_val_mae, r.best_epoch);
        }
        printf("\n");
        if (r.status == TRAIN_INTERRUPTED) printf("continue with: mvla train --out %s --resume\n", o.out_dir);
        else printf("model: %s/checkpoints/best.safetensors\n", o.out_dir);
    }
    return 0;
}
