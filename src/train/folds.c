/* train_run and the K-fold driver (see trainer.h): every fold of a K-fold manifest trained into
 * out_dir/fold_k, its best model evaluated on the test set, and folds.json with the spread. */
#include "train/trainer.h"

#include "base/error.h"
#include "base/file.h"
#include "base/threads.h"
#include "data/split.h"
#include "train/evaluate.h"
#include "train/trainer_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Mean and sample standard deviation of the finite values (NaN when none; std NaN for one). */
static void mean_std(const double *v, int n, double *mean, double *std)
{
    double s = 0, q = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) s += v[i], k++;
    *mean = k ? s / k : NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) q += (v[i] - *mean) * (v[i] - *mean);
    *std = k > 1 ? sqrt(q / (k - 1)) : NAN;
}

static int train_folds(const TrainOptions *o, TrainResult *res)
{
    SplitSets *s;
    int rc = o->manifest ? split_load_unverified(o->manifest, 0, &s)
                         : mvla_fail(MVLA_ERR_ARG, "train: --folds needs a K-fold split manifest");
    if (rc) return rc;
    int K = s->folds, n_test = s->test.n;
    split_sets_free(s);
    if (K != o->folds)
        return mvla_fail(MVLA_ERR_ARG, "manifest %s has %d folds, --folds asked for %d (make it with `mvla data split "
                         "--folds %d`)", o->manifest, K, o->folds, o->folds);
    if ((rc = file_make_dirs(o->out_dir))) return rc;
    char cache_default[TRAIN_PATH_LEN];
    if ((rc = train_join(cache_default, o->out_dir, "frames.cache"))) return rc;
    double *val = malloc(sizeof(double) * (size_t)K), *test = malloc(sizeof(double) * (size_t)K);
    if (!val || !test) {
        free(val), free(test);
        return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    }
    json_t *runs = json_array();
    TrainResult fr;
    for (int k = 0; k < K && !rc; k++) {
        char dir[TRAIN_PATH_LEN], name[32];
        snprintf(name, sizeof name, "fold_%d", k);
        if ((rc = train_join(dir, o->out_dir, name))) break;
        TrainOptions fo = *o;
        fo.fold = k;
        char probe[TRAIN_PATH_LEN]; /* resuming K folds: folds not started yet start now */
        if ((rc = train_join(probe, dir, "run.json"))) break;
        fo.resume = o->resume && train_file_exists(probe);
        if ((rc = train_one_run(&fo, dir, k, cache_default, &fr))) {
            rc = mvla_fail(rc, "fold %d: %s", k, mvla_error_message());
            break;
        }
        val[k] = fr.best_val_mae;
        test[k] = NAN;
        if (fr.status == TRAIN_INTERRUPTED) {
            if (res) *res = fr;
            break; /* max_steps: stop the whole K-fold run here */
        }
        if (n_test > 0) { /* the fold's best model on the held-out test set */
            char ck[TRAIN_PATH_LEN], ej[TRAIN_PATH_LEN];
            EvalOptions eo;
            eval_options_default(&eo);
            EvalReport rep;
            if ((rc = train_join(ck, dir, "checkpoints/best.safetensors")) || (rc = train_join(ej, dir, "eval.json"))) break;
            eo.checkpoint = ck;
            eo.data_dir = o->data_dir;
            eo.manifest = o->manifest;
            eo.fold = k;
            eo.cache_path = o->cache_path ? o->cache_path : cache_default;
            if ((rc = eval_run(&eo, &rep))) {
                rc = mvla_fail(rc, "fold %d: test evaluation: %s", k, mvla_error_message());
                break;
            }
            test[k] = rep.overall.mae;
            rc = eval_report_write_json(&rep, ej);
            eval_report_free(&rep);
        }
        json_array_append_new(runs, json_pack("{s:i, s:s, s:o, s:o, s:i, s:s}", "fold", k, "dir", name, "val_mae",
                                              json_real_or_null(val[k]), "test_mae", json_real_or_null(test[k]),
                                              "epochs", fr.epochs_run, "status", train_status_name(fr.status)));
        if (k == K - 1 && !rc) {
            double vm, vs, tm, ts;
            mean_std(val, K, &vm, &vs);
            mean_std(test, K, &tm, &ts);
            json_t *j = json_pack("{s:s, s:s, s:i, s:O, s:{s:o, s:o}, s:{s:o, s:o}}", "format", "mvla-folds", "manifest",
                                  o->manifest, "folds", K, "runs", runs, "val_mae", "mean", json_real_or_null(vm), "std",
                                  json_real_or_null(vs), "test_mae", "mean", json_real_or_null(tm), "std",
                                  json_real_or_null(ts));
            char path[TRAIN_PATH_LEN];
            if (!(rc = train_join(path, o->out_dir, "folds.json"))) rc = train_write_json(path, j);
            json_decref(j);
            if (res) {
                *res = fr;
                res->folds = K;
                res->val_mae_mean = vm, res->val_mae_std = vs, res->test_mae_mean = tm, res->test_mae_std = ts;
            }
        }
    }
    json_decref(runs);
    free(val);
    free(test);
    return rc;
}

int train_run(const TrainOptions *o, TrainResult *res)
{
    if (!o->out_dir) return mvla_fail(MVLA_ERR_ARG, "train: an output folder is needed");
    int prev_threads = mvla_get_threads(), rc;
    if (o->threads > 0) mvla_set_threads(o->threads);
    if (o->folds > 0) {
        rc = train_folds(o, res);
    } else {
        char cache_default[TRAIN_PATH_LEN];
        rc = train_join(cache_default, o->out_dir, "frames.cache");
        if (!rc) rc = train_one_run(o, o->out_dir, o->fold, cache_default, res);
    }
    if (o->threads > 0) mvla_set_threads(prev_threads);
    return rc;
}
