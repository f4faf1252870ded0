/* The training loop (see trainer.h): setup (config, split, cache, model, optimiser, loaders), epochs of
 * AdamW steps with validation, early stopping, checkpoints with the state that --resume needs. The K-fold
 * driver and train_run are in folds.c. */
#include "train/trainer.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/progress.h"
#include "base/threads.h"
#include "data/batch.h"
#include "data/seq_batch.h"
#include "data/split.h"
#include "io/safetensors.h"
#include "nn/checkpoint.h"
#include "tensor/optim.h"
#include "train/curves.h"
#include "train/metrics.h"
#include "train/model_meta.h"
#include "train/sim_select.h"
#include "train/train_clip.h"
#include "train/trainer_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN TRAIN_PATH_LEN

const char *train_status_name(TrainStatus s)
{
    return s == TRAIN_EARLY_STOPPED ? "early_stopped" : s == TRAIN_INTERRUPTED ? "interrupted" : "complete";
}

void train_options_default(TrainOptions *o)
{
    memset(o, 0, sizeof *o);
    o->fold = -1;
    o->epochs = o->batch_size = o->patience = o->select = -1;
    o->steps = -1;
    o->lr = o->weight_decay = o->warmup = o->clip = -1;
    o->seed = -1;
}

int train_resolve_config(const TrainOptions *o, TrainConfig *c)
{
    int rc = o->config_path ? train_config_load(c, o->config_path) : train_config_preset(c, o->preset ? o->preset : "student");
    if (rc) return rc;
    TrainSettings *t = &c->train;
    const char *bad = NULL;
    if (o->epochs >= 0 && (o->epochs < 1 || o->epochs > 100000)) bad = "--epochs: expected 1..100000";
    if (o->batch_size >= 0 && (o->batch_size < 1 || o->batch_size > 4096)) bad = "--batch-size: expected 1..4096";
    if (o->lr >= 0 && !(o->lr > 0 && o->lr <= 1)) bad = "--lr: expected a number in (0, 1]";
    if (o->weight_decay > 1) bad = "--weight-decay: expected a number in [0, 1]";
    if (o->warmup > 0.5) bad = "--warmup: expected a fraction of the steps in [0, 0.5]";
    if (o->seed > (1LL << 53)) bad = "--seed: expected 0..2^53";
    if (bad) return mvla_fail(MVLA_ERR_ARG, "%s", bad);
    if (o->steps > 100000000) bad = "--steps: expected 1..100000000";
    if (bad) return mvla_fail(MVLA_ERR_ARG, "%s", bad);
    if (o->epochs >= 0) t->epochs = o->epochs, t->steps = 0;
    if (o->steps > 0) t->steps = o->steps;
    if (o->batch_size >= 0) t->batch_size = o->batch_size;
    if (o->patience >= 0) t->patience = o->patience;
    if (o->select >= 0) t->select = o->select;
    if (c->is_clip && t->select == TRAIN_SELECT_SIM)
        return mvla_fail(MVLA_ERR_ARG, "--select sim is for the student; a CLIP head is selected by val_mae");
    if (o->lr >= 0) t->lr = o->lr;
    if (o->weight_decay >= 0) t->weight_decay = o->weight_decay;
    if (o->warmup >= 0) t->warmup = o->warmup;
    if (o->clip >= 0) t->clip = o->clip;
    if (o->seed >= 0) t->seed = (uint64_t)o->seed;
    if (o->init && strlen(o->init) >= sizeof t->init) return mvla_fail(MVLA_ERR_ARG, "--init: path too long");
    if (o->init) snprintf(t->init, sizeof t->init, "%s", o->init);
    if (c->is_clip && t->init[0])
        return mvla_fail(MVLA_ERR_ARG, "--init is for the student; a CLIP head trains on a frozen backbone");
    if (t->min_lr > t->lr) t->min_lr = t->lr;
    return clip_train_resolve(c, o->backbone);
}

/* ---- small file helpers ---- */

int train_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int train_join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_LEN, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_LEN) return mvla_fail(MVLA_ERR_ARG, "%s/%s: path too long", dir, name);
    return 0;
}

int train_write_json(const char *path, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the NUL: reuse it for a final newline */
    int rc = file_write_atomic(path, text, n + 1);
    free(text);
    return rc;
}

/* Replaces path with data through a temp file and a rename, without fsync: for files derived from others
 * (curves.svg), where a crash may lose the newest version but never leaves a half-written one. */
int train_write_replace(const char *path, const char *data, size_t n)
{
    char tmp[PATH_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return mvla_fail(MVLA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, n, fp) == n;
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return mvla_fail(MVLA_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}

int train_read_json(const char *path, json_t **out)
{
    json_error_t err;
    *out = json_load_file(path, 0, &err);
    if (!*out) return mvla_fail(MVLA_ERR_FORMAT, "%s: line %d: %s", path, err.line, err.text);
    return 0;
}

/* ---- the run ---- */

typedef struct {
    const TrainOptions *o;
    int fold;
    char out[PATH_LEN], last[PATH_LEN], best[PATH_LEN], metrics_path[PATH_LEN], run_json[PATH_LEN];
    char candidate[PATH_LEN]; /* train.select "sim": the epoch's weights, scored before they may become best */
    char data_dir[PATH_LEN], manifest[PATH_LEN], cache_path[PATH_LEN];
    char manifest_hash[HASH_TEXT_MAX];
    TrainConfig cfg;
    SplitSets *sets;
    FrameCache *cache;
    int *train_idx, *val_idx, n_train, n_val;
    StudentPolicy pol;
    int have_pol;
    int resuming;        /* --resume of a run with a checkpoint: train.init is not read again */
    ClipTrain *clip;                 /* a CLIP head instead of the student (cfg.is_clip) */
    Optimizer *opt;
    BatchLoader *train_ld, *val_ld;  /* window batching */
    SeqLoader *train_sq, *val_sq;    /* sequence batching */
    int has_val;
    Graph *g;
    LrSchedule sched;
    long batches, total_steps;
    json_t *provenance;
    FILE *metrics;
    /* state saved in last.safetensors */
    int epoch;             /* the epoch in progress (0-based) */
    long batch, step;      /* batches done in it; optimiser steps in total */
    Rng rng;               /* dropout */
    double best_mae, loss_sum;
    double best_sim; /* train.select "sim": the best checkpoint's closed-loop success (NaN before one) */
    double low_mae;  /* train.select "sim": the lowest val MAE of any epoch (patience waits for it too) */
    long loss_n;
    int best_epoch, bad_epochs;
    long metrics_bytes;
    TrainStatus status;
    int finished;
    double first_train_loss, last_train_loss;
} Run;

static void run_free(Run *r)
{
    if (r->metrics) fclose(r->metrics);
    batch_loader_free(r->train_ld);
    batch_loader_free(r->val_ld);
    seq_loader_free(r->train_sq);
    seq_loader_free(r->val_sq);
    optim_free(r->opt);
    graph_free(r->g);
    if (r->have_pol) student_free(&r->pol);
    clip_train_free(r->clip);
    cache_close(r->cache);
    split_sets_free(r->sets);
    free(r->train_idx);
    free(r->val_idx);
    json_decref(r->provenance);
}

static json_t *rng_json(const Rng *r)
{
    json_t *a = json_array();
    for (int i = 0; i < 4; i++) {
        char hex[20];
        snprintf(hex, sizeof hex, "%016" PRIx64, r->s[i]);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

static int rng_from_json(Rng *r, json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) != 4) return -1;
    for (int i = 0; i < 4; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        char *end;
        if (!json_is_string(v)) return -1;
        r->s[i] = strtoull(json_string_value(v), &end, 16);
        if (*end) return -1;
    }
    return 0;
}

static json_t *state_json(const Run *r)
{
    json_t *s = json_object();
    json_object_set_new(s, "epoch", json_integer(r->epoch));
    json_object_set_new(s, "batch", json_integer(r->batch));
    json_object_set_new(s, "step", json_integer(r->step));
    json_object_set_new(s, "rng", rng_json(&r->rng));
    json_object_set_new(s, "best_val_mae", isfinite(r->best_mae) ? json_real(r->best_mae) : json_null());
    json_object_set_new(s, "best_epoch", json_integer(r->best_epoch));
    json_object_set_new(s, "best_sim_success", json_real_or_null(r->best_sim));
    json_object_set_new(s, "lowest_val_mae", isfinite(r->low_mae) ? json_real(r->low_mae) : json_null());
    json_object_set_new(s, "bad_epochs", json_integer(r->bad_epochs));
    json_object_set_new(s, "loss_sum", json_real(r->loss_sum));
    json_object_set_new(s, "loss_n", json_integer(r->loss_n));
    json_object_set_new(s, "metrics_bytes", json_integer(r->metrics_bytes));
    json_object_set_new(s, "finished", json_boolean(r->finished));
    json_object_set_new(s, "status", json_string(train_status_name(r->status)));
    return s;
}

static int state_from_json(Run *r, json_t *s, const char *path)
{
    json_t *e = json_object_get(s, "epoch"), *b = json_object_get(s, "batch"), *st = json_object_get(s, "step"),
           *bm = json_object_get(s, "best_val_mae"), *be = json_object_get(s, "best_epoch"),
           *bad = json_object_get(s, "bad_epochs"), *ls = json_object_get(s, "loss_sum"), *ln = json_object_get(s, "loss_n"),
           *mb = json_object_get(s, "metrics_bytes"), *fin = json_object_get(s, "finished"),
           *status = json_object_get(s, "status");
    if (!json_is_object(s) || !json_is_integer(e) || !json_is_integer(b) || !json_is_integer(st) ||
        !(json_is_number(bm) || json_is_null(bm)) || !json_is_integer(be) || !json_is_integer(bad) ||
        !json_is_number(ls) || !json_is_integer(ln) || !json_is_integer(mb) || !json_is_boolean(fin) ||
        !json_is_string(status) || rng_from_json(&r->rng, json_object_get(s, "rng")))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: trainer: expected the trainer state (epoch, batch, step, "
                         "rng, best_val_mae, ...); was this checkpoint written by `mvla train`?", path);
    r->epoch = (int)json_integer_value(e);
    r->batch = (long)json_integer_value(b);
    r->step = (long)json_integer_value(st);
    r->best_mae = json_is_number(bm) ? json_number_value(bm) : INFINITY;
    r->best_epoch = (int)json_integer_value(be);
    json_t *bs = json_object_get(s, "best_sim_success"); /* absent in runs selected by val MAE before it existed */
    r->best_sim = json_is_number(bs) ? json_number_value(bs) : NAN;
    json_t *lm = json_object_get(s, "lowest_val_mae"); /* absent before it existed: the best's is a bound */
    r->low_mae = json_is_number(lm) ? json_number_value(lm) : r->best_mae;
    r->bad_epochs = (int)json_integer_value(bad);
    r->loss_sum = json_number_value(ls);
    r->loss_n = (long)json_integer_value(ln);
    r->metrics_bytes = (long)json_integer_value(mb);
    r->finished = json_is_true(fin);
    const char *sn = json_string_value(status);
    r->status = !strcmp(sn, "early_stopped") ? TRAIN_EARLY_STOPPED : !strcmp(sn, "interrupted") ? TRAIN_INTERRUPTED
                                                                                                : TRAIN_COMPLETE;
    if (r->epoch < 0 || r->batch < 0 || r->step < 0 || r->metrics_bytes < 0 || r->batch > r->batches)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: metadata: trainer: epoch %d, batch %ld, step %ld: out of range for this "
                         "run (%ld batches per epoch)", path, r->epoch, r->batch, r->step, r->batches);
    return 0;
}

/* The model's parameters, and the policy whose action settings the loss and the metrics read (for a CLIP
 * head its action shell, models/clip_policy.h). */
static ParamList *run_params(Run *r) { return r->clip ? clip_train_params(r->clip) : student_params(&r->pol); }
static StudentPolicy *run_policy(Run *r) { return r->clip ? &clip_train_policy(r->clip)->act : &r->pol; }

/* Saves a checkpoint: with the optimiser and trainer state (last) or the model alone (best). */
static int save_checkpoint(Run *r, const char *path, int with_state)
{
    json_t *state = with_state ? state_json(r) : json_pack("{s:i, s:I, s:f}", "epoch", r->epoch, "step",
                                                            (json_int_t)r->step, "val_mae",
                                                            isfinite(r->best_mae) ? r->best_mae : -1.0);
    char *meta = r->clip ? clip_train_metadata(r->clip, &r->cfg, r->provenance, state)
                         : model_meta_build(&r->pol, &r->cfg, r->provenance, state);
    json_decref(state);
    if (!meta) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory writing the metadata", path);
    int rc = checkpoint_save(path, run_params(r), with_state ? r->opt : NULL, r->step, meta);
    free(meta);
    return rc;
}

static int write_run_json(Run *r)
{
    char features[160];
    train_config_features(&r->cfg, features, sizeof features);
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("mvla-run"));
    json_object_set_new(j, "name", json_string(r->cfg.policy.name));
    json_object_set_new(j, "data_dir", json_string(r->data_dir));
    json_object_set_new(j, "manifest", json_string(r->manifest));
    json_object_set_new(j, "manifest_hash", json_string(r->manifest_hash));
    json_object_set_new(j, "fold", json_integer(r->fold));
    json_object_set_new(j, "cache", json_string(r->cache_path));
    json_object_set_new(j, "episodes", json_pack("{s:i, s:i, s:i}", "train", r->n_train, "val", r->n_val, "test",
                                                  r->sets ? r->sets->test.n : 0));
    json_object_set_new(j, "parameters", json_integer(r->clip ? clip_policy_param_count(clip_train_policy(r->clip))
                                                                : student_param_count(&r->pol)));
    json_object_set_new(j, "model_bytes", json_integer(r->clip ? clip_policy_model_bytes(clip_train_policy(r->clip))
                                                                 : student_model_bytes(&r->pol)));
    if (r->clip) json_object_set_new(j, "feature_cache", json_string(clip_train_features_path(r->clip)));
    json_object_set_new(j, "features", json_string(features));
    json_object_set_new(j, "threads", json_integer(mvla_get_threads()));
    json_object_set_new(j, "status", json_string(r->finished || r->status == TRAIN_INTERRUPTED ? train_status_name(r->status)
                                                                                              : "running"));
    json_object_set_new(j, "epochs_run", json_integer(r->epoch));
    json_object_set_new(j, "steps", json_integer(r->step));
    json_object_set_new(j, "best_epoch", json_integer(r->best_epoch >= 0 ? r->best_epoch + 1 : 0));
    json_object_set_new(j, "best_val_mae", isfinite(r->best_mae) ? json_real(r->best_mae) : json_null());
    if (r->cfg.train.select == TRAIN_SELECT_SIM) json_object_set_new(j, "best_sim_success", json_real_or_null(r->best_sim));
    int rc = train_write_json(r->run_json, j);
    json_decref(j);
    return rc;
}

/* One metrics line (compact JSON + newline), counted in metrics_bytes. */
static int write_metrics_line(Run *r, json_t *line)
{
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", r->metrics_path);
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, r->metrics) == n && fputc('\n', r->metrics) != EOF && fflush(r->metrics) == 0;
    free(text);
    if (!ok) return mvla_fail(MVLA_ERR_IO, "%s: write failed: %s", r->metrics_path, strerror(errno));
    r->metrics_bytes += (long)n + 1;
    return 0;
}

/* Indices of a split list's episodes in the cache. */
static int map_list(const FrameCache *c, const SplitList *l, int **out)
{
    *out = malloc(sizeof(int) * (size_t)(l->n ? l->n : 1));
    if (!*out) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < l->n; i++)
        if (((*out)[i] = cache_find(c, l->e[i].file)) < 0)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: episode %s of the manifest is not in the cache", cache_path(c),
                             l->e[i].file);
    return 0;
}

/* The split, the frame cache over every episode of the manifest, and the train/val index lists. */
static int setup_data(Run *r)
{
    int rc = split_load(r->manifest, r->data_dir, r->fold, &r->sets);
    if (rc) return rc;
    if ((rc = hash_file(r->manifest, r->manifest_hash))) return rc;
    SplitSets *s = r->sets;
    if (s->train.n == 0) return mvla_fail(MVLA_ERR_ARG, "manifest %s: no training episodes", r->manifest);
    int n = s->train.n + s->val.n + s->test.n;
    CacheSource *src = malloc(sizeof *src * (size_t)n);
    if (!src) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    const SplitList *lists[3] = {&s->train, &s->val, &s->test};
    int k = 0;
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < lists[l]->n; i++) src[k++] = (CacheSource){lists[l]->e[i].file, lists[l]->e[i].hash};
    Preprocess pre;
    train_config_preprocess(&r->cfg, &pre);
    CacheOptions copt = {0};
    copt.lang = r->cfg.data.lang;
    copt.mapping_path = r->cfg.data.instructions[0] ? r->cfg.data.instructions : NULL;
    copt.instruction = r->cfg.data.instruction[0] ? r->cfg.data.instruction : NULL;
    rc = cache_open_or_build(&r->cache, r->cache_path, r->data_dir, src, n, &pre, &copt, NULL);
    free(src);
    if (rc) return rc;
    r->n_train = s->train.n;
    r->n_val = s->val.n;
    if ((rc = map_list(r->cache, &s->train, &r->train_idx)) || (rc = map_list(r->cache, &s->val, &r->val_idx))) return rc;
    /* provenance: what the model is trained on */
    char **hashes = malloc(sizeof(char *) * (size_t)s->train.n);
    if (!hashes) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    for (int i = 0; i < s->train.n; i++) hashes[i] = s->train.e[i].hash;
    char digest[HASH_TEXT_MAX];
    model_meta_digest(hashes, s->train.n, digest);
    json_t *list = json_array();
    for (int i = 0; i < s->train.n; i++) json_array_append_new(list, json_string(hashes[i]));
    free(hashes);
    r->provenance = json_object();
    json_object_set_new(r->provenance, "dataset", json_string(r->data_dir));
    json_object_set_new(r->provenance, "manifest", json_string(r->manifest));
    json_object_set_new(r->provenance, "manifest_hash", json_string(r->manifest_hash));
    json_object_set_new(r->provenance, "fold", json_integer(r->fold));
    json_object_set_new(r->provenance, "split_seed", json_integer((json_int_t)s->seed));
    json_object_set_new(r->provenance, "train_digest", json_string(digest));
    json_object_set_new(r->provenance, "train_episodes", list);
    return 0;
}

/* The encoder's per-channel pixel mean and std, as the loaders take them. */
static void pixel_normalisation(const TrainConfig *c, float mean[3], float std[3])
{
    for (int ch = 0; ch < 3; ch++) {
        mean[ch] = (float)c->policy.encoder.pixel_mean[ch];
        std[ch] = (float)c->policy.encoder.pixel_std[ch];
    }
}

/* A CLIP head: backbone features (computed once), the head and its batches (train_clip.h). */
static int setup_clip(Run *r)
{
    return clip_train_new(&r->clip, &r->cfg, r->cache, r->train_idx, r->n_train, r->val_idx, r->n_val, r->o->on_features,
                          r->o->cb_ctx);
}

/* The episodes the init checkpoint was trained on (its train_episodes, which hold its own init's too). */
static int provenance_add_init(Run *r, const char *path)
{
    SafeTensors *st;
    int rc = st_open(&st, path);
    if (rc) return rc;
    const char *meta = st_metadata(st, "mvla.metadata");
    json_t *root = meta ? json_loads(meta, 0, NULL) : NULL;
    json_t *eps = json_object_get(json_object_get(root, "provenance"), "train_episodes");
    if (json_is_array(eps)) rc = model_meta_add_train_episodes(r->provenance, eps, path);
    json_decref(root);
    st_close(st);
    return rc;
}

/* Model (with action statistics from the training split), optimiser, schedule, loaders. */
static int setup_model(Run *r)
{
    const TrainConfig *c = &r->cfg;
    const TrainSettings *t = &c->train;
    int rc = c->is_clip ? setup_clip(r) : student_init(&r->pol, &c->policy, t->seed);
    if (rc) return rc;
    r->have_pol = !c->is_clip;
    long n = 0;
    for (int i = 0; i < r->n_train; i++) n += cache_episode(r->cache, r->train_idx[i])->num_frames;
    float *acts = malloc(sizeof(float) * 3 * (size_t)(n ? n : 1));
    if (!acts) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    long k = 0;
    for (int i = 0; i < r->n_train; i++) {
        const CacheEpisode *ep = cache_episode(r->cache, r->train_idx[i]);
        for (int f = t->skip_start ? 1 : 0; f < ep->num_frames; f++, k++) memcpy(acts + 3 * k, ep->actions + 3 * f, 12);
    }
    rc = student_fit_action_stats(run_policy(r), acts, k);
    free(acts);
    if (rc) return mvla_fail(rc, "train: action statistics of the training split: %s", mvla_error_message());
    if (t->init[0] && !r->resuming &&
        ((rc = student_init_from(&r->pol, t->init, t->init_encoder_only ? "encoder." : "")) ||
         (rc = provenance_add_init(r, t->init))))
        return mvla_fail(rc, "train.init: %s", mvla_error_message());

    OptimConfig oc = optim_config_default(OPTIM_ADAMW);
    oc.lr = (float)t->lr;
    oc.beta1 = (float)t->beta1, oc.beta2 = (float)t->beta2, oc.eps = (float)t->eps;
    oc.weight_decay = (float)t->weight_decay;
    oc.ema = (float)t->ema;
    ParamList *pl = run_params(r);
    if (!(r->opt = optim_new(OPTIM_ADAMW, pl, &oc))) return MVLA_ERR_ARG;
    if (t->encoder_lr_scale != 1.0) /* one group per encoder parameter keeps its own decay flag */
        for (int i = 0; i < pl->count; i++) {
            const Param *p = &pl->items[i];
            if (!p->trainable || strncmp(p->name, "encoder.", 8) != 0) continue;
            if ((rc = optim_add_group(r->opt, p->name, (float)t->encoder_lr_scale, p->decay ? (float)t->weight_decay : 0)))
                return rc;
        }

    if (c->is_clip) {
        r->batches = clip_train_batches(r->clip);
    } else if (t->batching == TRAIN_BATCH_SEQUENCE) {
        SeqBatchOptions so;
        seq_batch_options_default(&so);
        so.batch_size = t->seq_batch;
        so.max_len = t->seq_len;
        so.window = c->policy.head.window;
        so.chunk = c->policy.action.chunk;
        so.seed = t->seed;
        so.skip_start = t->skip_start;
        pixel_normalisation(c, so.mean, so.std);
        if (t->augment_on) so.aug = t->augment;
        if ((rc = seq_loader_new(&r->train_sq, r->cache, r->train_idx, r->n_train, &so)))
            return mvla_fail(rc, "train: training sequences: %s", mvla_error_message());
        if (r->n_val > 0) { /* validation: whole episodes in time order, a few at a time */
            so.shuffle = 0;
            augment_off(&so.aug);
            if ((rc = seq_loader_new(&r->val_sq, r->cache, r->val_idx, r->n_val, &so)))
                return mvla_fail(rc, "train: validation sequences: %s", mvla_error_message());
        }
        r->batches = seq_loader_num_batches(r->train_sq);
    } else {
        BatchOptions bo;
        batch_options_default(&bo);
        bo.batch_size = t->batch_size;
        bo.window = c->policy.head.window;
        bo.chunk = c->policy.action.chunk;
        bo.seed = t->seed;
        bo.skip_start = t->skip_start;
        pixel_normalisation(c, bo.mean, bo.std);
        if (t->augment_on) bo.aug = t->augment;
        if ((rc = batch_loader_new(&r->train_ld, r->cache, r->train_idx, r->n_train, &bo)))
            return mvla_fail(rc, "train: training batches: %s", mvla_error_message());
        if (r->n_val > 0) {
            bo.shuffle = 0;
            augment_off(&bo.aug);
            if ((rc = batch_loader_new(&r->val_ld, r->cache, r->val_idx, r->n_val, &bo)))
                return mvla_fail(rc, "train: validation batches: %s", mvla_error_message());
        }
        r->batches = batch_loader_num_batches(r->train_ld);
    }
    r->has_val = r->val_ld || r->val_sq || (r->clip && clip_train_has_val(r->clip));
    if (t->steps > 0) /* a step budget: whole epochs, at least one */
        r->cfg.train.epochs = (int)((t->steps + r->batches - 1) / (r->batches > 0 ? r->batches : 1));
    r->total_steps = r->batches * t->epochs;
    r->sched = (LrSchedule){t->schedule, (float)t->lr, (long)llround(t->warmup * (double)r->total_steps),
                            r->total_steps, (float)t->min_lr};
    if ((rc = lr_schedule_check(&r->sched))) return rc;
    if (!(r->g = graph_new())) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
    rng_seed(&r->rng, t->seed ^ 0x6472306f7574ull); /* the dropout stream, apart from init and batches */
    return 0;
}

/* One batch of either loader, as the forward pass and the loss take it. */
typedef struct {
    int count;                  /* windows (window batching) or segments (sequence batching) */
    int seq;                    /* frames are [count, T, 3, H, W] sequences for student_forward_sequence */
    long samples;               /* windows with a loss (the positions a sequence batch stands for) */
    long frames_encoded;        /* real frames: the encoder passes of the step */
    Tensor *frames;
    const float *frame_mask, *actions, *action_mask;
    const char **instructions;
    const ClipBatch *clip;      /* a CLIP head's batch (the fields above: count, samples, masks, actions) */
} StepBatch;

static long mask_sum(const Tensor *m)
{
    long n = 0;
    for (long i = 0; i < m->numel; i++) n += m->data[i] != 0;
    return n;
}

static int loader_start(Run *r, int val, int epoch)
{
    if (r->clip) return clip_train_start(r->clip, val, epoch);
    if (r->cfg.train.batching == TRAIN_BATCH_SEQUENCE) return seq_loader_start_epoch(val ? r->val_sq : r->train_sq, epoch);
    return batch_loader_start_epoch(val ? r->val_ld : r->train_ld, epoch);
}

/* The next batch in *sb; *got = 0 at the end of the epoch. */
static int loader_next(Run *r, int val, StepBatch *sb, int *got)
{
    memset(sb, 0, sizeof *sb);
    *got = 0;
    int rc;
    if (r->clip) {
        const ClipBatch *b;
        if ((rc = clip_train_next(r->clip, val, &b)) || !b) return rc;
        *sb = (StepBatch){b->count, 0, b->count, 0, NULL, b->frame_mask, b->actions, b->action_mask, NULL, b};
    } else if (r->cfg.train.batching == TRAIN_BATCH_SEQUENCE) {
        const SeqBatch *b;
        if ((rc = seq_loader_next(val ? r->val_sq : r->train_sq, &b)) || !b) return rc;
        *sb = (StepBatch){b->count, 1, b->positions, mask_sum(b->frame_mask), b->frames, b->frame_mask->data,
                          b->actions->data, b->action_mask->data, b->instructions, NULL};
    } else {
        const Batch *b;
        if ((rc = batch_loader_next(val ? r->val_ld : r->train_ld, &b)) || !b) return rc;
        *sb = (StepBatch){b->count, 0, b->count, mask_sum(b->frame_mask), b->frames, b->frame_mask->data,
                          b->actions->data, b->action_mask->data, b->instructions, NULL};
    }
    *got = 1;
    return 0;
}

static Tensor *forward(Run *r, const StepBatch *b, int training)
{
    StudentPolicy *p = &r->pol;
    Rng *rng = training ? &r->rng : NULL;
    if (r->clip) return clip_train_forward(r->clip, r->g, b->clip, training, rng);
    Tensor *e = student_encode_texts(r->g, p, b->instructions, b->count, training, rng);
    if (b->seq) return student_forward_sequence(r->g, p, b->frames, b->frame_mask, e, training, rng);
    return student_forward(r->g, p, b->frames, b->frame_mask, e, training, rng);
}

/* Validation over every window (position) of the validation episodes, eval mode: the loss weighted by
 * the batch's windows, the MAE of the first predicted action at every position. */
static int validate(Run *r, double *loss, double *mae, double mae_axis[3], long *samples)
{
    *loss = *mae = NAN;
    mae_axis[0] = mae_axis[1] = mae_axis[2] = NAN;
    *samples = 0;
    if (!r->has_val) return 0;
    StudentPolicy *p = run_policy(r);
    int K = p->cfg.action.chunk, V = p->out_dim;
    double loss_sum = 0, abs_sum[3] = {0};
    long n = 0;
    int rc = loader_start(r, 1, 0), prev = graph_set_grad(r->g, 0), got = 0;
    StepBatch b;
    while (!rc && !(rc = loader_next(r, 1, &b, &got)) && got) {
        graph_reset(r->g);
        Tensor *out = forward(r, &b, 0);
        Tensor *l = student_loss(r->g, p, out, b.actions, b.action_mask);
        if (!l) {
            rc = mvla_fail(MVLA_ERR_ARG, "train: validation: %s", mvla_error_message());
            break;
        }
        loss_sum += (double)l->data[0] * b.samples;
        for (int i = 0; i < out->shape[0]; i++) {
            if (b.action_mask[(long)i * K] == 0) continue; /* context or padding (sequences) */
            float a[3];
            student_output_to_actions(p, out->data + (long)i * K * V, 1, a);
            const float *tgt = b.actions + (long)i * K * 3;
            for (int j = 0; j < 3; j++) abs_sum[j] += fabs((double)a[j] - tgt[j]);
            n++;
        }
    }
    graph_set_grad(r->g, prev);
    graph_reset(r->g);
    if (rc || n == 0) return rc;
    *loss = loss_sum / n;
    for (int j = 0; j < 3; j++) mae_axis[j] = abs_sum[j] / n;
    *mae = (abs_sum[0] + abs_sum[1] + abs_sum[2]) / (3.0 * n);
    *samples = n;
    return 0;
}

/* One optimiser step on a batch; *loss and *gnorm receive the loss and the gradient norm (before clipping). */
static int train_step(Run *r, const StepBatch *b, float lr, float *loss, float *gnorm)
{
    StudentPolicy *p = run_policy(r);
    graph_reset(r->g);
    Tensor *out = forward(r, b, 1);
    Tensor *l = student_loss(r->g, p, out, b->actions, b->action_mask);
    if (!l) return mvla_fail(MVLA_ERR_ARG, "train: step %ld: %s", r->step + 1, mvla_error_message());
    *loss = l->data[0];
    int rc = graph_backward(r->g, l, NULL);
    if (rc) return rc;
    ParamList *pl = run_params(r);
    *gnorm = clip_grad_norm(pl, (float)r->cfg.train.clip);
    if (isfinite(*gnorm) && isfinite(*loss)) rc = optim_step(r->opt, lr);
    optim_zero_grad(r->opt);
    return rc;
}

static int write_curves(Run *r)
{
    char path[PATH_LEN];
    int rc = train_join(path, r->out, "curves.svg");
    RunCurves c;
    if (!rc) rc = run_curves_read(&c, r->metrics_path);
    if (rc) return rc;
    char *svg = run_curves_svg(&c, r->cfg.policy.name);
    run_curves_free(&c);
    if (!svg) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    rc = train_write_replace(path, svg, strlen(svg));
    free(svg);
    return rc;
}

/* End of an epoch: validate, track the best, log, checkpoint. Returns 1 in *stop for early stopping. */
static int end_epoch(Run *r, double epoch_t0, long epoch_samples, int *stop)
{
    const TrainSettings *t = &r->cfg.train;
    double vloss, vmae, vaxis[3], v0 = time_now();
    long vn;
    /* With train.ema the moving average is validated, scored and saved as best; the raw weights come back
     * before last.safetensors (which holds both). */
    int rc = t->ema > 0 ? optim_swap_ema(r->opt) : 0;
    if (!rc) rc = validate(r, &vloss, &vmae, vaxis, &vn);
    if (rc) return rc;
    double v1 = time_now(), sim = NAN;
    int improved, progress;
    if (t->select == TRAIN_SELECT_SIM && r->epoch < (int)(t->select_from * t->epochs)) {
        improved = 0; /* not scored yet (train.select_from) */
        progress = 1; /* nor counted by patience: a run never stops before it has a best checkpoint */
        if (vn && vmae < r->low_mae) r->low_mae = vmae;
    } else if (t->select == TRAIN_SELECT_SIM) {
        if (!(rc = save_checkpoint(r, r->candidate, 0))) {
            rc = train_sim_score(r->candidate, t, &sim);
            remove(r->candidate); /* best.safetensors is written below with this epoch's state if it wins */
        }
        if (rc) return rc;
        improved = !(sim <= r->best_sim) || (sim == r->best_sim && vn && vmae < r->best_mae); /* NaN: the first */
        /* Success on ~100 rollouts is noisy: an early lucky epoch would stop the run half way down its
         * schedule. Patience waits while either the closed loop or the validation MAE improves. */
        progress = improved || (vn && vmae < r->low_mae - t->min_delta);
        if (vn && vmae < r->low_mae) r->low_mae = vmae;
    } else {
        improved = progress = vn == 0 || vmae < r->best_mae - t->min_delta;
    }
    if (improved) {
        r->best_mae = vn ? vmae : NAN;
        r->best_sim = sim;
        r->best_epoch = r->epoch;
    }
    r->bad_epochs = progress ? 0 : r->bad_epochs + 1;
    double train_loss = r->loss_n ? r->loss_sum / r->loss_n : NAN;
    if (r->epoch == 0) r->first_train_loss = train_loss;
    r->last_train_loss = train_loss;
    json_t *line = json_object();
    json_object_set_new(line, "type", json_string("epoch"));
    json_object_set_new(line, "epoch", json_integer(r->epoch + 1));
    json_object_set_new(line, "step", json_integer(r->step));
    json_object_set_new(line, "train_loss", json_real_or_null(train_loss));
    json_object_set_new(line, "val_loss", json_real_or_null(vloss));
    json_object_set_new(line, "val_mae", json_real_or_null(vmae));
    json_object_set_new(line, "val_mae_axis", json_pack("[o, o, o]", json_real_or_null(vaxis[0]),
                                                         json_real_or_null(vaxis[1]), json_real_or_null(vaxis[2])));
    json_object_set_new(line, "val_samples", json_integer(vn));
    json_object_set_new(line, "lr", json_real(lr_at(&r->sched, r->step)));
    json_object_set_new(line, "best", json_boolean(improved));
    json_object_set_new(line, "best_val_mae", json_real_or_null(r->best_mae));
    if (t->select == TRAIN_SELECT_SIM) {
        json_object_set_new(line, "sim_success", json_real_or_null(sim));
        json_object_set_new(line, "best_sim_success", json_real_or_null(r->best_sim));
    }
    json_object_set_new(line, "bad_epochs", json_integer(r->bad_epochs));
    double v2 = time_now(), secs = v2 - epoch_t0;
    json_object_set_new(line, "timing", json_pack("{s:f, s:f, s:f, s:f}", "epoch_s", secs, "val_s", v1 - v0, "sim_s", v2 - v1,
                                                   "samples_per_s", v0 > epoch_t0 ? epoch_samples / (v0 - epoch_t0) : 0.0));
    rc = write_metrics_line(r, line);
    json_decref(line);
    if (rc) return rc;
    if (r->o->on_epoch) {
        TrainEpochInfo info = {r->epoch + 1, r->step, train_loss, vloss, vmae, sim, improved, r->o->folds > 0 ? r->fold : -1};
        r->o->on_epoch(r->o->cb_ctx, &info);
    }
    r->epoch++;
    r->batch = 0;
    r->loss_sum = 0;
    r->loss_n = 0;
    *stop = 0;
    if (t->patience > 0 && r->has_val && r->bad_epochs >= t->patience) {
        *stop = 1;
        r->status = TRAIN_EARLY_STOPPED;
        r->finished = 1;
    } else if (r->epoch >= t->epochs) {
        r->status = TRAIN_COMPLETE;
        r->finished = 1;
    }
    if (improved && (rc = save_checkpoint(r, r->best, 0))) return rc;
    if (t->ema > 0 && (rc = optim_swap_ema(r->opt))) return rc;
    if ((rc = save_checkpoint(r, r->last, 1))) return rc;
    if ((rc = write_curves(r))) return rc;
    return r->finished ? write_run_json(r) : 0; /* run.json: at the start and when the run stops */
}

static int train_loop(Run *r)
{
    const TrainOptions *o = r->o;
    const TrainSettings *t = &r->cfg.train;
    double t0 = time_now();
    long steps0 = r->step, run_samples = 0, run_frames = 0;
    int rc = 0;
    while (!r->finished) {
        double epoch_t0 = time_now();
        long epoch_samples = 0;
        if ((rc = loader_start(r, 0, r->epoch))) return rc;
        StepBatch b;
        int got = 0;
        for (long i = 0; i < r->batch; i++) /* resume inside an epoch: the same batches, skipped */
            if ((rc = loader_next(r, 0, &b, &got)) || !got)
                return rc ? rc : mvla_fail(MVLA_ERR_FORMAT, "train: resume at batch %ld: the epoch has only %ld", r->batch, i);
        while (!(rc = loader_next(r, 0, &b, &got)) && got) {
            float lr = lr_at(&r->sched, r->step), loss = NAN, gnorm = NAN;
            if ((rc = train_step(r, &b, lr, &loss, &gnorm))) return rc;
            r->step++;
            r->batch++;
            if (isfinite(loss)) r->loss_sum += loss, r->loss_n++;
            epoch_samples += b.samples;
            run_samples += b.samples;
            run_frames += b.frames_encoded;
            double el = time_now() - t0, sps = el > 0 ? (r->step - steps0) / el : 0;
            if (r->step % t->log_every == 0) {
                json_t *line = json_object(); /* NaN (a diverged step) is written as null */
                json_object_set_new(line, "type", json_string("step"));
                json_object_set_new(line, "epoch", json_integer(r->epoch + 1));
                json_object_set_new(line, "step", json_integer(r->step));
                json_object_set_new(line, "loss", json_real_or_null(loss));
                json_object_set_new(line, "lr", json_real(lr));
                json_object_set_new(line, "grad_norm", json_real_or_null(gnorm));
                json_object_set_new(line, "skipped", json_boolean(!isfinite(gnorm) || !isfinite(loss)));
                json_object_set_new(line, "timing", json_pack("{s:f, s:f, s:f, s:f}", "elapsed_s", el, "steps_per_s", sps,
                                                              "samples_per_s", el > 0 ? run_samples / el : 0.0,
                                                              "frames_per_s", el > 0 ? run_frames / el : 0.0));
                rc = write_metrics_line(r, line);
                json_decref(line);
                if (rc) return rc;
            }
            if (o->on_step) {
                TrainProgress pr = {r->epoch + 1, t->epochs, r->step, r->total_steps, r->batch, r->batches, loss, lr, sps,
                                    o->folds > 0 ? r->fold : -1};
                o->on_step(o->cb_ctx, &pr);
            }
            if (o->max_steps > 0 && r->step >= o->max_steps && r->batch < r->batches) {
                r->status = TRAIN_INTERRUPTED;
                if ((rc = save_checkpoint(r, r->last, 1))) return rc;
                return write_run_json(r);
            }
        }
        if (rc) return rc;
        int stop;
        if ((rc = end_epoch(r, epoch_t0, epoch_samples, &stop))) return rc;
        if (!r->finished && o->max_steps > 0 && r->step >= o->max_steps) {
            r->status = TRAIN_INTERRUPTED;
            return write_run_json(r);
        }
    }
    return 0;
}

/* Reads the run folder's run.json for the data paths of a resumed run. */
static int resume_paths(Run *r, const TrainOptions *o)
{
    json_t *j;
    int rc = train_read_json(r->run_json, &j);
    if (rc) return mvla_fail(rc, "resume: %s", mvla_error_message());
    const char *keys[3] = {"data_dir", "manifest", "cache"};
    char *dst[3] = {r->data_dir, r->manifest, r->cache_path};
    const char *given[3] = {o->data_dir, o->manifest, o->cache_path};
    for (int i = 0; i < 3 && !rc; i++) {
        json_t *v = json_object_get(j, keys[i]);
        const char *s = given[i] ? given[i] : json_string_value(v);
        if (!s) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: %s: expected a string", r->run_json, keys[i]);
        else snprintf(dst[i], PATH_LEN, "%s", s);
    }
    json_t *h = json_object_get(j, "manifest_hash");
    char now[HASH_TEXT_MAX];
    if (!rc && json_is_string(h) && !hash_file(r->manifest, now) && strcmp(now, json_string_value(h)) != 0)
        rc = mvla_fail(MVLA_ERR_ARG, "resume: manifest %s changed since the run started (%s, recorded %s)", r->manifest,
                       now, json_string_value(h));
    json_decref(j);
    return rc;
}

/* Loads the last checkpoint and cuts metrics.jsonl back to the length it had then. */
static int resume_state(Run *r)
{
    long step;
    char *meta = NULL;
    int rc = checkpoint_load(r->last, run_params(r), r->opt, &step, &meta);
    if (rc) return mvla_fail(rc, "resume: %s", mvla_error_message());
    json_t *root = meta ? json_loads(meta, 0, NULL) : NULL;
    free(meta);
    json_t *pv = json_object_get(root, "provenance"), *mh = json_object_get(pv, "manifest_hash");
    if (json_is_string(mh) && strcmp(json_string_value(mh), r->manifest_hash) != 0)
        rc = mvla_fail(MVLA_ERR_ARG, "resume: %s was trained with another manifest (%s) than %s (%s)", r->last,
                       json_string_value(mh), r->manifest, r->manifest_hash);
    json_t *eps = json_object_get(pv, "train_episodes"); /* a run started with train.init: the init's too */
    if (!rc && json_is_array(eps)) rc = model_meta_add_train_episodes(r->provenance, eps, r->last);
    if (!rc) rc = state_from_json(r, json_object_get(root, "trainer"), r->last);
    json_decref(root);
    if (rc) return rc;
    struct stat st;
    if (stat(r->metrics_path, &st) != 0 || st.st_size < r->metrics_bytes)
        return mvla_fail(MVLA_ERR_FORMAT, "resume: %s is shorter than when %s was written (%ld bytes expected)",
                         r->metrics_path, r->last, r->metrics_bytes);
    if (truncate(r->metrics_path, r->metrics_bytes) != 0)
        return mvla_fail(MVLA_ERR_IO, "resume: %s: cannot truncate: %s", r->metrics_path, strerror(errno));
    if (r->best_epoch >= 0 && !train_file_exists(r->best))
        return mvla_fail(MVLA_ERR_FORMAT, "resume: %s is missing", r->best);
    return 0;
}

/* One training run into out_dir (fold: -1 or the fold of a K-fold manifest). */
int train_one_run(const TrainOptions *o, const char *out_dir, int fold, const char *cache_default, TrainResult *res)
{
    Run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.fold = fold;
    r.best_mae = INFINITY;
    r.best_sim = NAN;
    r.low_mae = INFINITY;
    r.best_epoch = -1;
    r.first_train_loss = r.last_train_loss = NAN;
    char ckdir[PATH_LEN], cfg_path[PATH_LEN];
    snprintf(r.out, sizeof r.out, "%s", out_dir);
    int rc = train_join(ckdir, r.out, "checkpoints");
    if (!rc) rc = train_join(r.last, ckdir, "last.safetensors");
    if (!rc) rc = train_join(r.best, ckdir, "best.safetensors");
    if (!rc) rc = train_join(r.candidate, ckdir, "candidate.safetensors");
    if (!rc) rc = train_join(r.metrics_path, r.out, "metrics.jsonl");
    if (!rc) rc = train_join(r.run_json, r.out, "run.json");
    if (!rc) rc = train_join(cfg_path, r.out, "config.json");
    if (rc) return rc;
    int restart = 0; /* resume of a run killed before its first checkpoint: start it again */
    if (o->resume) {
        if (!train_file_exists(cfg_path) || !train_file_exists(r.run_json))
            return mvla_fail(MVLA_ERR_ARG, "resume: %s holds no run (config.json and run.json missing)", r.out);
        if ((rc = train_config_load(&r.cfg, cfg_path)) || (rc = resume_paths(&r, o))) return rc;
        restart = !train_file_exists(r.last);
    } else {
        if (!o->data_dir || !o->manifest) return mvla_fail(MVLA_ERR_ARG, "train: a dataset folder and a split manifest are needed");
        if (train_file_exists(r.metrics_path))
            return mvla_fail(MVLA_ERR_ARG, "%s already holds a run (metrics.jsonl): continue it with --resume or choose "
                             "another output folder", r.out);
        if ((rc = train_resolve_config(o, &r.cfg))) return rc;
        snprintf(r.data_dir, sizeof r.data_dir, "%s", o->data_dir);
        snprintf(r.manifest, sizeof r.manifest, "%s", o->manifest);
        snprintf(r.cache_path, sizeof r.cache_path, "%s", o->cache_path ? o->cache_path : cache_default);
        if ((rc = file_make_dirs(r.out)) || (rc = file_make_dirs(ckdir))) return rc;
        char *text = train_config_to_json(&r.cfg);
        if (!text) return mvla_fail(MVLA_ERR_NOMEM, "train: out of memory");
        rc = file_write_atomic(cfg_path, text, strlen(text));
        free(text);
        if (rc) return rc;
    }
    r.resuming = o->resume && !restart;
    if (!(rc = setup_data(&r)) && !(rc = setup_model(&r))) {
        int cont = r.resuming;
        if (cont) rc = resume_state(&r);
        if (!rc && !(r.metrics = fopen(r.metrics_path, cont ? "a" : "w")))
            rc = mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", r.metrics_path, strerror(errno));
        if (!rc && !cont) rc = write_run_json(&r);
        if (!rc && !r.finished) rc = train_loop(&r);
    }
    if (res) {
        memset(res, 0, sizeof *res);
        res->status = r.status;
        res->epochs_run = r.epoch;
        res->steps = r.step;
        res->best_epoch = r.best_epoch >= 0 ? r.best_epoch + 1 : -1;
        res->best_val_mae = isfinite(r.best_mae) ? r.best_mae : NAN;
        res->best_sim_success = r.best_sim;
        res->first_train_loss = r.first_train_loss;
        res->last_train_loss = r.last_train_loss;
        res->val_mae_mean = res->val_mae_std = res->test_mae_mean = res->test_mae_std = NAN;
    }
    run_free(&r);
    return rc;
}
