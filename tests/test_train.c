/* Training, resume, K-fold, evaluation and the runtime adapter on a tiny synthetic dataset: 8 episodes
 * of 12 frames at 32x18 whose sideways actions depend only on the instruction (left and right episodes
 * of a pair share their frames), so a policy can only fit them by reading the instruction. */
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "base/rng.h"
#include "data/actions.h"
#include "data/dataset.h"
#include "data/split.h"
#include "io/episode.h"
#include "io/safetensors.h"
#include "nn/checkpoint.h"
#include "runtime/model_policy.h"
#include "runtime/model_preprocess.h"
#include "sim/eval.h"
#include "sim/expert.h"
#include "sim/generate.h"
#include "train/evaluate.h"
#include "train/model_meta.h"
#include "train/sim_select.h"
#include "train/trainer.h"
#include "train_testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EP_T 12
#define EP_W 32
#define EP_H 18

/* Frames of pair k: a noisy background and a bright bar that moves right with t. BGR. */
static uint8_t *pair_frames(int k)
{
    uint8_t *f = malloc((size_t)EP_T * EP_H * EP_W * 3);
    Rng r;
    rng_seed(&r, 100 + (uint64_t)k);
    for (int t = 0; t < EP_T; t++)
        for (int y = 0; y < EP_H; y++)
            for (int x = 0; x < EP_W; x++)
                for (int c = 0; c < 3; c++) {
                    int v = 40 + 3 * x + 2 * y + (int)rng_below(&r, 30);
                    if (x >= 1 + 26 * t / (EP_T - 1) && x < 4 + 26 * t / (EP_T - 1)) v = c == 1 ? 250 : 200;
                    f[(((size_t)t * EP_H + y) * EP_W + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
                }
    return f;
}

/* 4 pairs x {left, right}: start, then w w slide slide w w w slide slide w w w, the slide a (left) or d (right). */
static int make_dataset(const char *dir)
{
    mkdir(dir, 0755);
    for (int k = 0; k < 4; k++) {
        uint8_t *frames = pair_frames(k);
        for (int s = 0; s < 2; s++) {
            const char *keys = s == 0 ? " wwaawwwaawww" : " wwddwwwddwww";
            float actions[EP_T * 3];
            for (int t = 0; t < EP_T; t++) key_to_action(keys[t], ACTION_VALUE, actions + 3 * t);
            EpisodeInfo in = {0};
            in.num_frames = EP_T;
            in.height = EP_H;
            in.width = EP_W;
            in.actions = actions;
            in.total_duration = 2.0;
            in.instruction = (char *)(s == 0 ? "left" : "right");
            in.collection_hour = in.collection_minute = -1;
            char path[1024];
            snprintf(path, sizeof path, "%s/episode_20250101_1200%02d_1box_vert_%s_core_medium.h5", dir, k * 2 + s,
                     s == 0 ? "left" : "right");
            if (episode_write(path, &in, frames)) {
                free(frames);
                return -1;
            }
        }
        free(frames);
    }
    return 0;
}

/* dir/data with the episodes and dir/split.json (holdout 50/25/25 or K folds). */
static int make_data_and_split(const char *base, int folds, char *data, char *manifest)
{
    snprintf(data, 1024, "%s/data", base);
    snprintf(manifest, 1024, "%s/split%d.json", base, folds);
    if (make_dataset(data)) return -1;
    Dataset *ds;
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    if (dataset_open(&ds, data, &dopt)) return -1;
    SplitOptions so;
    split_options_default(&so);
    so.train = 0.5, so.val = 0.25, so.test = 0.25;
    if (folds) so.folds = folds, so.train = 0.75, so.val = 0, so.test = 0.25;
    so.seed = 3;
    SplitManifest *m;
    int rc = split_make_from_dataset(ds, &so, &m);
    dataset_free(ds);
    if (rc) return rc;
    rc = split_write(m, manifest);
    split_manifest_free(m);
    return rc;
}

static void tiny_options(TrainOptions *o, const char *data, const char *manifest, const char *out, const char *cache)
{
    train_options_default(o);
    o->preset = "tiny";
    o->data_dir = data;
    o->manifest = manifest;
    o->out_dir = out;
    o->cache_path = cache;
    o->threads = 1; /* a tiny model gains nothing from more, and a busy machine loses a lot to spinning threads */
}

/* The lines of a metrics.jsonl with their "timing" objects removed, as one string. */
static char *metrics_without_timing(const char *path)
{
    char *text;
    size_t n;
    if (file_read_all(path, &text, &n)) return NULL;
    size_t cap = n + 1, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        json_object_del(j, "timing");
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        size_t l = strlen(s);
        if (len + l + 2 > cap) out = realloc(out, cap = (len + l + 2) * 2);
        memcpy(out + len, s, l);
        len += l;
        out[len++] = '\n';
        out[len] = 0;
        free(s);
        json_decref(j);
    }
    free(text);
    return out;
}

static int exists(const char *dir, const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

TEST(train_tiny_config_learns_and_writes_run_folder)
{
    char base[512], data[1024], manifest[1024], out[1024], cache[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", base);
    snprintf(cache, sizeof cache, "%s/frames.cache", base);
    TrainOptions o;
    tiny_options(&o, data, manifest, out, cache);
    o.epochs = 30; /* 6 steps an epoch */
    TrainResult res;
    REQUIRE(train_run(&o, &res) == 0);
    CHECK(res.status == TRAIN_COMPLETE);
    CHECK(res.epochs_run == 30);
    CHECK_MSG(res.last_train_loss < 0.25 * res.first_train_loss, "train loss %g -> %g: expected a large drop",
              res.first_train_loss, res.last_train_loss);
    CHECK(isfinite(res.best_val_mae) && res.best_epoch >= 1);
    const char *files[] = {"config.json", "run.json", "metrics.jsonl", "curves.svg", "checkpoints/best.safetensors",
                           "checkpoints/last.safetensors"};
    for (int i = 0; i < 6; i++) CHECK_MSG(exists(out, files[i]), "%s/%s missing", out, files[i]);

    /* metrics.jsonl: 30 epoch lines, step lines every 10 steps */
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    char *text;
    size_t n;
    REQUIRE(file_read_all(path, &text, &n) == 0);
    int epochs = 0, steps = 0;
    for (char *l = text, *next; l && *l; l = next) {
        next = strchr(l, '\n');
        if (next) *next++ = 0;
        json_t *j = json_loads(l, 0, NULL);
        CHECK(j != NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (type && !strcmp(type, "epoch")) {
            epochs++;
            CHECK(json_is_number(json_object_get(j, "val_mae")) && json_is_number(json_object_get(j, "lr")));
        } else if (type && !strcmp(type, "step")) {
            steps++;
            CHECK(json_integer_value(json_object_get(j, "step")) % 10 == 0);
            CHECK(json_is_number(json_object_get(j, "grad_norm")));
        }
        json_decref(j);
    }
    free(text);
    CHECK(epochs == 30);
    CHECK(steps == (int)(res.steps / 10));

    /* the best checkpoint is a self-sufficient model file with its provenance */
    snprintf(path, sizeof path, "%s/checkpoints/best.safetensors", out);
    StudentPolicy p;
    REQUIRE(student_load(&p, path) == 0);
    ModelMeta meta;
    REQUIRE(model_meta_read(&meta, path, &p.cfg) == 0);
    CHECK(meta.has_provenance && meta.n_train == 4 && meta.pre.width == 32 && meta.pre.height == 16);
    CHECK(meta.epoch == res.best_epoch);
    model_meta_free(&meta);
    student_free(&p);

    /* evaluation on the test pair: it follows the instruction (the only cue for the slide) */
    EvalOptions eo;
    eval_options_default(&eo);
    eo.checkpoint = path;
    eo.data_dir = data;
    eo.manifest = manifest;
    eo.cache_path = cache;
    eo.split = "train";
    EvalReport rep;
    REQUIRE(eval_run(&eo, &rep) == 0);
    CHECK(rep.episodes == 4 && rep.frames == 4 * (EP_T - 1));
    CHECK_MSG(rep.overall.mae < 0.15, "train-split MAE %g", rep.overall.mae);
    CHECK_MSG(rep.instr.follow_both > 0.9, "instruction followed on %g of the sliding frames", rep.instr.follow_both);
    CHECK(rep.n_sides == 2 && !strcmp(rep.sides[0].name, "left") && !strcmp(rep.sides[1].name, "right"));
    CHECK(rep.n_kinds == 1 && !strcmp(rep.kinds[0].name, "core") && rep.kinds[0].episodes == 4 &&
          rep.kinds[0].m.n == rep.frames);
    eval_report_free(&rep);
    eo.split = "test";
    char csv_path[4096];
    snprintf(csv_path, sizeof csv_path, "%s/frames.csv", out);
    eo.frames_csv = csv_path;
    REQUIRE(eval_run(&eo, &rep) == 0);
    CHECK(rep.episodes == 2 && rep.n_scenarios == 2);
    /* the per-frame CSV: a header, one row per scored frame, and the key matches add up to the report's */
    char *csv = NULL;
    size_t csv_len = 0;
    REQUIRE(file_read_all(csv_path, &csv, &csv_len) == 0);
    long rows = -1, same = 0;
    for (char *line = strtok(csv, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        char target[16], predicted[16];
        if (rows >= 0 && sscanf(line, "%*[^,],%*d,%15[^,],%15[^,],", target, predicted) == 2) same += !strcmp(target, predicted);
    }
    free(csv);
    CHECK_MSG(rows == rep.frames, "%ld CSV rows for %ld frames", rows, rep.frames);
    CHECK_NEAR((double)same / (double)rep.frames, rep.overall.perfect_match, 1e-9);
    char *table = eval_report_table(&rep);
    CHECK(table && strstr(table, "instruction test"));
    free(table);
    snprintf(path, sizeof path, "%s/eval.json", out);
    CHECK(eval_report_write_json(&rep, path) == 0);
    eval_report_free(&rep);
    json_t *ej = json_load_file(path, 0, NULL);
    CHECK(ej && !strcmp(json_string_value(json_object_get(ej, "split")), "test"));
    CHECK(json_is_number(json_object_get(json_object_get(ej, "overall"), "mae")));
    json_decref(ej);

    /* a second run into the same folder is refused: nothing on disk is overwritten */
    CHECK(train_run(&o, &res) == MVLA_ERR_ARG && strstr(mvla_error_message(), "--resume"));
}

TEST(train_resume_after_interruption_matches_uninterrupted_run)
{
    char base[512], data[1024], manifest[1024], a[1024], b[1024], cache[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    snprintf(cache, sizeof cache, "%s/frames.cache", base);
    const char *cfg_path = "train_resume.json";
    char cfg_file[1200];
    snprintf(cfg_file, sizeof cfg_file, "%s/%s", base, cfg_path);
    /* dropout and augmentation on, so the RNG state and the loader position matter; the weights' moving
     * average on, so it must be saved and restored too */
    const char *cfg = "{\"preset\": \"tiny\", \"policy\": {\"dropout\": 0.2},"
                      " \"train\": {\"epochs\": 3, \"log_every\": 1, \"patience\": 3, \"ema\": 0.9,"
                      "  \"augment\": {\"rotate_deg\": 3, \"noise_std\": 2, \"mirror_prob\": 0.5}}}";
    REQUIRE(file_write_atomic(cfg_file, cfg, strlen(cfg)) == 0);
    TrainOptions o;
    tiny_options(&o, data, manifest, a, cache);
    o.config_path = cfg_file;
    TrainResult ra, rb;
    REQUIRE(train_run(&o, &ra) == 0);
    CHECK(ra.status == TRAIN_COMPLETE && ra.steps == 18);

    o.out_dir = b;
    o.max_steps = 4; /* inside epoch 1 (6 batches per epoch) */
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_INTERRUPTED && rb.steps == 4);
    o.max_steps = 12; /* exactly at an epoch's end */
    o.resume = 1;
    o.config_path = NULL; /* the run folder's config.json is used */
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_INTERRUPTED && rb.steps == 12);
    o.max_steps = 0;
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_COMPLETE && rb.steps == 18);

    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/metrics.jsonl", a);
    snprintf(pb, sizeof pb, "%s/metrics.jsonl", b);
    char *ma = metrics_without_timing(pa), *mb = metrics_without_timing(pb);
    REQUIRE(ma && mb);
    CHECK_MSG(strcmp(ma, mb) == 0, "metrics differ:\n--- uninterrupted\n%s--- resumed\n%s", ma, mb);
    free(ma);
    free(mb);
    /* the same final weights and optimiser state */
    snprintf(pa, sizeof pa, "%s/checkpoints/last.safetensors", a);
    snprintf(pb, sizeof pb, "%s/checkpoints/last.safetensors", b);
    SafeTensors *sa, *sb;
    REQUIRE(st_open(&sa, pa) == 0);
    REQUIRE(st_open(&sb, pb) == 0);
    CHECK(st_count(sa) == st_count(sb));
    int diff = 0;
    for (int i = 0; i < st_count(sa); i++) {
        const StTensor *ta = st_at(sa, i), *tb = st_find(sb, ta->name);
        if (!tb || ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes)) diff++;
    }
    CHECK_MSG(diff == 0, "%d tensors differ between the runs", diff);
    st_close(sa);
    st_close(sb);
    /* resuming a finished run does nothing */
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.steps == 18);

    /* best.safetensors holds the moving average: after one epoch, last.safetensors' "ema" slot */
    char d[1100];
    snprintf(d, sizeof d, "%s/one-epoch", base);
    tiny_options(&o, data, manifest, d, cache);
    o.config_path = cfg_file;
    o.epochs = 1;
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.best_epoch == 1);
    snprintf(pa, sizeof pa, "%s/checkpoints/last.safetensors", d);
    snprintf(pb, sizeof pb, "%s/checkpoints/best.safetensors", d);
    SafeTensors *last;
    StudentPolicy best;
    REQUIRE(st_open(&last, pa) == 0);
    REQUIRE(student_load(&best, pb) == 0);
    const ParamList *pl = student_params(&best);
    int averaged = 0, raw = 0, params = 0;
    for (int i = 0; i < pl->count; i++) {
        const Param *p = &pl->items[i];
        char name[300];
        snprintf(name, sizeof name, "optim.%s.ema", p->name);
        const StTensor *avg_t = st_find(last, name), *raw_t = st_find(last, p->name);
        size_t bytes = sizeof(float) * (size_t)p->tensor->numel;
        if (!p->trainable) continue; /* buffers (batch-norm statistics, action scales) are not averaged */
        params++;
        averaged += avg_t && avg_t->nbytes == bytes && !memcmp(avg_t->data, p->tensor->data, bytes);
        raw += raw_t && raw_t->nbytes == bytes && !memcmp(raw_t->data, p->tensor->data, bytes);
    }
    CHECK_MSG(params > 0 && averaged == params && raw < params / 2, "%d of %d averaged, %d raw", averaged, params, raw);
    student_free(&best);
    st_close(last);

    /* killed before its first checkpoint (no last.safetensors, a half-written metrics line): resume starts the
     * run again from its config.json and still ends with the same metrics */
    char c[1100], path[1200];
    snprintf(c, sizeof c, "%s/c", base);
    tiny_options(&o, data, manifest, c, cache);
    o.config_path = cfg_file;
    o.max_steps = 4;
    REQUIRE(train_run(&o, &rb) == 0);
    snprintf(path, sizeof path, "%s/checkpoints/last.safetensors", c);
    REQUIRE(remove(path) == 0);
    snprintf(path, sizeof path, "%s/metrics.jsonl", c);
    FILE *fp = fopen(path, "a");
    REQUIRE(fp);
    fputs("{\"type\":\"step\",\"ep", fp);
    fclose(fp);
    o.config_path = NULL;
    o.max_steps = 0;
    o.resume = 1;
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_COMPLETE && rb.steps == 18);
    snprintf(pa, sizeof pa, "%s/metrics.jsonl", a);
    ma = metrics_without_timing(pa);
    mb = metrics_without_timing(path);
    CHECK(ma && mb && strcmp(ma, mb) == 0);
    free(ma);
    free(mb);
    /* nothing to resume in an empty folder */
    snprintf(c, sizeof c, "%s/empty", base);
    o.out_dir = c;
    CHECK(train_run(&o, &rb) == MVLA_ERR_ARG && strstr(mvla_error_message(), "holds no run"));
}

TEST(train_bad_config_names_the_key)
{
    /* config text, the error code, and what the message must name */
    static const struct { const char *json; int rc; const char *name1, *name2; } cases[] = {
        {"{\"train\": {\"lrr\": 0.1}}", MVLA_ERR_ARG, "cfg.json", "train.lrr"},
        {"{\"train\": {\"lr\": -1}}", MVLA_ERR_ARG, "train.lr", "-1"},
        {"{\"train\": {\"augment\": {\"mirror_prob\": 2}}}", MVLA_ERR_ARG, "train.augment.mirror_prob", ""},
        {"{\"policy\": {\"feature_dim\": \"big\"}}", MVLA_ERR_ARG, "policy", "feature_dim"},
        {"{\"data\": {\"crop\": \"zoom\"}}", MVLA_ERR_ARG, "data.crop", ""},
        {"{\"preset\": \"huge\"}", MVLA_ERR_ARG, "preset", ""},
        {"{\"trian\": {}}", MVLA_ERR_ARG, "trian", "unknown key"},
        {"{\"train\": {\"epochs\": 0}}", MVLA_ERR_ARG, "train.epochs", ""},
        {"[1]", MVLA_ERR_FORMAT, "cfg.json", ""},
        {"{\"train\": {\"select\": \"best\"}}", MVLA_ERR_ARG, "train.select", "\"sim\""},
        {"{\"train\": {\"select_target\": \"mug\"}}", MVLA_ERR_ARG, "train.select_target", ""},
        {"{\"train\": {\"select_rollouts\": 0}}", MVLA_ERR_ARG, "train.select_rollouts", ""},
        {"{\"train\": {\"ema\": 1}}", MVLA_ERR_ARG, "train.ema", "[0, 0.99999]"},
        {"{\"preset\": \"clip-mlp\", \"train\": {\"select\": \"sim\"}}", MVLA_ERR_ARG, "train.select", "student"},
    };
    TrainConfig c;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = train_config_parse(&c, cases[i].json, "cfg.json");
        const char *msg = mvla_error_message();
        CHECK_MSG(rc == cases[i].rc && strstr(msg, cases[i].name1) && strstr(msg, cases[i].name2), "%s: rc %d, \"%s\"",
                  cases[i].json, rc, msg);
    }

    /* a config round-trips through its JSON; a preset with overrides keeps the preset's other values */
    REQUIRE(train_config_parse(&c, "{\"preset\": \"tiny\", \"train\": {\"lr\": 0.002, \"augment\": {\"hue\": 0.1},"
                                   " \"select\": \"sim\", \"select_target\": \"mixed\", \"select_seed\": 5},"
                                   " \"policy\": {\"head\": {\"window\": 2}}}", "cfg.json") == 0);
    CHECK(c.policy.encoder.input_width == 32 && c.policy.head.window == 2 && c.policy.head.hidden == 32);
    CHECK(c.train.lr == 0.002 && c.train.augment_on && fabsf(c.train.augment.hue - 0.1f) < 1e-7f);
    CHECK(c.train.select == TRAIN_SELECT_SIM && c.train.select_target == -1 && c.train.select_seed == 5 &&
          c.train.select_rollouts == 4);
    char *text = train_config_to_json(&c);
    REQUIRE(text);
    TrainConfig d;
    REQUIRE(train_config_parse(&d, text, "roundtrip") == 0);
    char *text2 = train_config_to_json(&d);
    CHECK(text2 && strcmp(text, text2) == 0);
    free(text);
    free(text2);

    /* through the trainer: the config file's name and the key */
    char path[1024];
    snprintf(path, sizeof path, "%s/bad.json", test_tmpdir());
    const char *bad = "{\"train\": {\"batch_size\": 0}}";
    REQUIRE(file_write_atomic(path, bad, strlen(bad)) == 0);
    TrainOptions o;
    train_options_default(&o);
    o.config_path = path;
    CHECK(train_resolve_config(&o, &c) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "bad.json") && strstr(mvla_error_message(), "train.batch_size"));
}

/* Rewrites a manifest so that its test set also lists the first training episode. */
static int make_overlapping_manifest(const char *src, const char *dst, int into_test_only)
{
    json_t *m = json_load_file(src, 0, NULL);
    if (!m) return -1;
    json_t *train = json_object_get(m, "train"), *test = json_object_get(m, "test");
    json_t *first = json_deep_copy(json_array_get(train, 0));
    if (into_test_only) { /* move it: the manifest is consistent, but the model trained on it */
        json_array_remove(train, 0);
        json_object_set_new(json_object_get(m, "counts"), "train", json_integer((json_int_t)json_array_size(train)));
    }
    json_array_append_new(test, first);
    json_object_set_new(json_object_get(m, "counts"), "test", json_integer((json_int_t)json_array_size(test)));
    int rc = json_dump_file(m, dst, JSON_INDENT(2));
    json_decref(m);
    return rc;
}

TEST(eval_refuses_overlap_and_training_episodes)
{
    char base[512], data[1024], manifest[1024], out[1024], cache[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", base);
    snprintf(cache, sizeof cache, "%s/frames.cache", base);
    TrainOptions o;
    tiny_options(&o, data, manifest, out, cache);
    o.epochs = 1;
    REQUIRE(train_run(&o, NULL) == 0);
    char ck[1200], bad1[1200], bad2[1200];
    snprintf(ck, sizeof ck, "%s/checkpoints/best.safetensors", out);
    snprintf(bad1, sizeof bad1, "%s/overlap.json", base);
    snprintf(bad2, sizeof bad2, "%s/moved.json", base);
    REQUIRE(make_overlapping_manifest(manifest, bad1, 0) == 0);
    REQUIRE(make_overlapping_manifest(manifest, bad2, 1) == 0);
    EvalOptions eo;
    eval_options_default(&eo);
    eo.checkpoint = ck;
    eo.data_dir = data;
    eo.cache_path = cache;
    EvalReport rep;
    eo.manifest = bad1; /* test overlaps train in the manifest itself */
    CHECK(eval_run(&eo, &rep) != 0);
    CHECK_MSG(strstr(mvla_error_message(), "both"), "message: %s", mvla_error_message());
    eo.manifest = bad2; /* a clean manifest whose test set holds one of the model's training episodes */
    CHECK(eval_run(&eo, &rep) == MVLA_ERR_ARG);
    CHECK_MSG(strstr(mvla_error_message(), "training set"), "message: %s", mvla_error_message());
    eo.manifest = NULL; /* the whole folder includes the training episodes too */
    CHECK(eval_run(&eo, &rep) == MVLA_ERR_ARG && strstr(mvla_error_message(), "training set"));
    eo.manifest = manifest;
    CHECK(eval_run(&eo, &rep) == 0);
    eval_report_free(&rep);
    /* training on an overlapping manifest is refused too */
    char out2[1100];
    snprintf(out2, sizeof out2, "%s/run2", base);
    tiny_options(&o, data, bad1, out2, cache);
    CHECK(train_run(&o, NULL) != 0 && strstr(mvla_error_message(), "both"));
}

TEST(train_kfold_writes_every_fold_and_summary)
{
    char base[512], data[1024], manifest[1024], out[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 2, data, manifest) == 0);
    snprintf(out, sizeof out, "%s/cv", base);
    TrainOptions o;
    tiny_options(&o, data, manifest, out, NULL);
    o.epochs = 2;
    o.folds = 2;
    TrainResult res;
    REQUIRE(train_run(&o, &res) == 0);
    CHECK(res.folds == 2 && isfinite(res.val_mae_mean) && isfinite(res.val_mae_std));
    CHECK(isfinite(res.test_mae_mean));
    CHECK(exists(out, "fold_0/checkpoints/best.safetensors") && exists(out, "fold_1/eval.json"));
    CHECK(exists(out, "frames.cache"));
    char path[1200];
    snprintf(path, sizeof path, "%s/folds.json", out);
    json_t *j = json_load_file(path, 0, NULL);
    REQUIRE(j);
    json_t *runs = json_object_get(j, "runs");
    CHECK(json_array_size(runs) == 2);
    double v0 = json_number_value(json_object_get(json_array_get(runs, 0), "val_mae"));
    double v1 = json_number_value(json_object_get(json_array_get(runs, 1), "val_mae"));
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(j, "val_mae"), "mean")), (v0 + v1) / 2, 1e-9);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(j, "val_mae"), "std")), fabs(v0 - v1) / sqrt(2.0), 1e-9);
    json_decref(j);
    /* a fold count that is not the manifest's */
    o.folds = 3;
    snprintf(out, sizeof out, "%s/cv3", base);
    o.out_dir = out;
    CHECK(train_run(&o, NULL) == MVLA_ERR_ARG && strstr(mvla_error_message(), "2 folds"));
}

TEST(model_policy_matches_runner_on_raw_frames)
{
    TrainConfig c;
    REQUIRE(train_config_preset(&c, "tiny") == 0);
    StudentPolicy p;
    REQUIRE(student_init(&p, &c.policy, 5) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", test_tmpdir());
    char *meta = model_meta_build(&p, &c, NULL, NULL);
    REQUIRE(meta);
    REQUIRE(checkpoint_save(path, student_params(&p), NULL, 0, meta) == 0);
    free(meta);
    Policy pol;
    REQUIRE(model_policy_open(&pol, path) == 0);
    CHECK(!strcmp(pol.name, "tiny"));
    StudentRunner *run = student_runner_new(&p);
    REQUIRE(run);
    const char *instr = "Navigate around obstacles and reach the front of the beverage bottle on the left";
    REQUIRE(policy_reset(&pol, instr) == 0);
    REQUIRE(student_runner_set_instruction(run, instr) == 0);
    Preprocess pre;
    train_config_preprocess(&c, &pre);
    uint8_t *frames = pair_frames(1), rgb[32 * 16 * 3], swapped[EP_H * EP_W * 3];
    for (int t = 0; t < 4; t++) {
        const uint8_t *bgr = frames + (size_t)t * EP_H * EP_W * 3;
        float a[3], b[3];
        REQUIRE(preprocess_frame(&pre, bgr, EP_W, EP_H, rgb) == 0);
        REQUIRE(student_runner_step_rgb(run, rgb, b, NULL) == 0);
        if (t % 2 == 0) {
            REQUIRE(policy_step(&pol, bgr, EP_W, EP_H, POLICY_BGR, a) == 0);
        } else { /* the same frame handed over as RGB */
            for (int i = 0; i < EP_H * EP_W; i++)
                for (int ch = 0; ch < 3; ch++) swapped[3 * i + ch] = bgr[3 * i + 2 - ch];
            REQUIRE(policy_step(&pol, swapped, EP_W, EP_H, POLICY_RGB, a) == 0);
        }
        CHECK(max_abs_diff(a, b, 3) == 0);
    }
    float a[3];
    CHECK(policy_step(&pol, frames, 0, EP_H, POLICY_BGR, a) == MVLA_ERR_ARG);
    free(frames);
    student_runner_free(run);
    policy_destroy(&pol);
    policy_destroy(&pol);
    /* a model whose recorded preprocessing disagrees with its input size is refused */
    CHECK(student_model_preprocess("{\"preprocess\": {\"width\": 64, \"height\": 16, \"crop\": \"stretch\", "
                                   "\"filter\": \"area\"}}", &p.cfg, &pre, "m") == MVLA_ERR_FORMAT);
    student_free(&p);
}

TEST(train_early_stopping_on_val_mae)
{
    char base[512], data[1024], manifest[1024], out[1024], cfg_file[1100];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", base);
    snprintf(cfg_file, sizeof cfg_file, "%s/es.json", base);
    /* min_delta larger than any MAE: epoch 1 sets the best (from none), 2 and 3 cannot improve on it, so
     * patience 2 stops the run after epoch 3 of 10 (the encoder group's lr scale is exercised too) */
    const char *cfg = "{\"preset\": \"tiny\", \"train\": {\"epochs\": 10, \"patience\": 2, \"min_delta\": 10,"
                      " \"encoder_lr_scale\": 0.5}}";
    REQUIRE(file_write_atomic(cfg_file, cfg, strlen(cfg)) == 0);
    TrainOptions o;
    tiny_options(&o, data, manifest, out, NULL);
    o.config_path = cfg_file;
    TrainResult r;
    REQUIRE(train_run(&o, &r) == 0);
    CHECK(r.status == TRAIN_EARLY_STOPPED && r.epochs_run == 3 && r.best_epoch == 1);
    char path[1200];
    snprintf(path, sizeof path, "%s/run.json", out);
    json_t *j = json_load_file(path, 0, NULL);
    REQUIRE(j);
    CHECK(!strcmp(json_string_value(json_object_get(j, "status")), "early_stopped"));
    CHECK(json_integer_value(json_object_get(j, "best_epoch")) == 1 && json_integer_value(json_object_get(j, "epochs_run")) == 3);
    json_decref(j);
    CHECK(exists(out, "frames.cache")); /* the default cache lives in the run folder */
}

TEST(train_step_budget_sets_whole_epochs)
{
    char base[512], data[1024], manifest[1024], out[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(out, sizeof out, "%s/nested/run", base); /* missing parents are created */
    TrainOptions o;
    tiny_options(&o, data, manifest, out, NULL);
    o.steps = 13; /* 6 steps an epoch: 3 epochs, 18 steps */
    TrainResult r;
    REQUIRE(train_run(&o, &r) == 0);
    CHECK_MSG(r.status == TRAIN_COMPLETE && r.epochs_run == 3 && r.steps == 18, "%d epochs, %ld steps", r.epochs_run,
              r.steps);
}

/* A tiny run in base/name with the config text cfg (written to base/name.json); train_run's code. */
static int train_with_config(const char *base, const char *name, const char *cfg, const char *data,
                             const char *manifest, const char *cache)
{
    char cfg_file[1100], out[1100];
    snprintf(cfg_file, sizeof cfg_file, "%s/%s.json", base, name);
    snprintf(out, sizeof out, "%s/%s", base, name);
    int rc = file_write_atomic(cfg_file, cfg, strlen(cfg));
    if (rc) return rc;
    TrainOptions o;
    tiny_options(&o, data, manifest, out, cache);
    o.preset = NULL, o.config_path = cfg_file;
    TrainResult r;
    return train_run(&o, &r);
}

/* train.init: a run that starts from a trained checkpoint starts with a far lower loss than a fresh one; a
 * resumed run does not read the init checkpoint again; a missing or mismatched one is refused by name. */
TEST(train_init_starts_from_a_checkpoint)
{
    char base[512], data[1024], manifest[1024], a[1024], b[1024], init[1100], cfg_file[1100], cache[1024];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(cache, sizeof cache, "%s/frames.cache", base);
    snprintf(a, sizeof a, "%s/from", base);
    TrainOptions o;
    tiny_options(&o, data, manifest, a, cache);
    o.epochs = 20;
    TrainResult ra, rb;
    REQUIRE(train_run(&o, &ra) == 0);
    snprintf(init, sizeof init, "%s/init.safetensors", base); /* a copy, removed before the resume below */
    char src[1200], *bytes;
    size_t n;
    snprintf(src, sizeof src, "%s/checkpoints/last.safetensors", a);
    REQUIRE(file_read_all(src, &bytes, &n) == 0);
    REQUIRE(file_write_atomic(init, bytes, n) == 0);
    free(bytes);

    /* B's manifest moves one of A's training episodes into its test set: B never trains on it, A did */
    char moved[1100];
    snprintf(moved, sizeof moved, "%s/moved.json", base);
    REQUIRE(make_overlapping_manifest(manifest, moved, 1) == 0);
    snprintf(b, sizeof b, "%s/init-run", base);
    tiny_options(&o, data, moved, b, cache);
    o.epochs = 4;
    o.init = init;
    o.max_steps = 9; /* interrupted in epoch 2 */
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK_MSG(rb.first_train_loss < 0.5 * ra.first_train_loss, "first train loss %g from the checkpoint, %g fresh",
              rb.first_train_loss, ra.first_train_loss);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", b);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *tr = j ? json_object_get(j, "train") : NULL;
    CHECK(tr && !strcmp(json_string_value(json_object_get(tr, "init")), init) &&
          !strcmp(json_string_value(json_object_get(tr, "init_parts")), "all"));
    json_decref(j);
    snprintf(path, sizeof path, "%s/run.json", b); /* the leaderboard's features say so */
    j = json_load_file(path, 0, NULL);
    const char *features = j ? json_string_value(json_object_get(j, "features")) : NULL;
    CHECK_MSG(features && strstr(features, " init"), "features: %s", features ? features : "(none)");
    json_decref(j);
    REQUIRE(remove(init) == 0);
    train_options_default(&o);
    o.out_dir = b, o.resume = 1, o.threads = 1;
    CHECK(train_run(&o, &rb) == 0 && rb.status == TRAIN_COMPLETE && rb.epochs_run == 4);
    /* the weights carry A's training: eval refuses that episode as a test episode, after the resume too */
    EvalOptions eo;
    eval_options_default(&eo);
    snprintf(path, sizeof path, "%s/checkpoints/best.safetensors", b);
    eo.checkpoint = path, eo.data_dir = data, eo.cache_path = cache, eo.manifest = moved;
    EvalReport rep;
    CHECK(eval_run(&eo, &rep) == MVLA_ERR_ARG && strstr(mvla_error_message(), "training set"));

    /* missing: named with the key; another architecture (encoder only is fine): the tensor named */
    snprintf(b, sizeof b, "%s/init-missing", base);
    tiny_options(&o, data, manifest, b, cache);
    o.init = init;
    CHECK(train_run(&o, &rb) != 0 && strstr(mvla_error_message(), "train.init") &&
          strstr(mvla_error_message(), "init.safetensors"));
    char cfg[1500];
    snprintf(cfg, sizeof cfg, "{\"preset\": \"tiny\", \"policy\": {\"feature_dim\": 40}, \"train\": {\"epochs\": 1,"
             " \"init\": \"%s\"}}", src);
    CHECK(train_with_config(base, "init-wide", cfg, data, manifest, cache) == MVLA_ERR_FORMAT &&
          strstr(mvla_error_message(), "shape"));
    snprintf(cfg, sizeof cfg, "{\"preset\": \"tiny\", \"policy\": {\"feature_dim\": 40}, \"train\": {\"epochs\": 1,"
             " \"init\": \"%s\", \"init_parts\": \"encoder\"}}", src);
    CHECK_MSG(train_with_config(base, "init-encoder", cfg, data, manifest, cache) == 0, "%s", mvla_error_message());
    snprintf(cfg_file, sizeof cfg_file, "%s/parts.json", base);
    snprintf(cfg, sizeof cfg, "{\"preset\": \"tiny\", \"train\": {\"init_parts\": \"decoder\"}}");
    REQUIRE(file_write_atomic(cfg_file, cfg, strlen(cfg)) == 0);
    TrainConfig tc;
    CHECK(train_config_load(&tc, cfg_file) == MVLA_ERR_ARG && strstr(mvla_error_message(), "train.init_parts"));
}

/* The commands through the binary (skipped when MVLA_BIN is unset or does not have them yet). */
TEST(train_cli_errors_name_the_problem)
{
    const char *bin = getenv("MVLA_BIN");
    char cmd[4096], log[1024];
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set) ");
        return;
    }
    snprintf(log, sizeof log, "%s/log.txt", test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' train --help > /dev/null 2>&1", bin);
    if (system(cmd) != 0) {
        fprintf(stderr, "(skipped: %s has no train command yet) ", bin);
        return;
    }
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s/bad.json", test_tmpdir());
    const char *bad = "{\"preset\": \"tiny\", \"train\": {\"epoch\": 3}}";
    REQUIRE(file_write_atomic(cfg, bad, strlen(bad)) == 0);
    snprintf(cmd, sizeof cmd, "'%s' train --config '%s' --data '%s' --manifest '%s/m.json' --out '%s/run' > '%s' 2>&1",
             bin, cfg, test_tmpdir(), test_tmpdir(), test_tmpdir(), log);
    CHECK(system(cmd) != 0);
    char *text;
    size_t n;
    REQUIRE(file_read_all(log, &text, &n) == 0);
    CHECK_MSG(strstr(text, "mvla: ") && strstr(text, "bad.json") && strstr(text, "train.epoch"), "output: %s", text);
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' train --out x --resume --epochs 3 > '%s' 2>&1", bin, log);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "'%s' eval '%s/none.safetensors' --data '%s' > '%s' 2>&1", bin, test_tmpdir(),
             test_tmpdir(), log);
    CHECK(system(cmd) != 0);
    REQUIRE(file_read_all(log, &text, &n) == 0);
    CHECK_MSG(strstr(text, "none.safetensors"), "output: %s", text);
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' leaderboard '%s/nowhere' > '%s' 2>&1", bin, test_tmpdir(), log);
    CHECK(system(cmd) != 0);
}

/* 8 simulated episodes (the collector's format at 64x36) in DIR/sim, split 4/2/2 into DIR/split.json. */
static int make_sim_data(const char *dir, char *data, char *manifest)
{
    sprintf(data, "%s/sim", dir);
    sprintf(manifest, "%s/split.json", dir);
    SimConfig sc;
    sim_config_default(&sc);
    sim_camera_default(&sc.camera, 64, 36);
    SimGenSpec g;
    sim_gen_spec_default(&g);
    g.count = 8;
    g.seed = 11;
    Dataset *ds = NULL;
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    SplitOptions so;
    split_options_default(&so);
    so.train = 0.5, so.val = 0.25, so.test = 0.25;
    SplitManifest *m = NULL;
    int rc = sim_generate(data, &sc, &g, NULL, NULL);
    if (!rc) rc = dataset_open(&ds, data, &dopt);
    if (!rc && dataset_usable(ds) != 8) rc = -1;
    if (!rc) rc = split_make_from_dataset(ds, &so, &m);
    if (!rc) rc = split_write(m, manifest);
    dataset_free(ds);
    split_manifest_free(m);
    return rc;
}

/* The selection scores the task as instructed: the expert that drives on a random side reaches every
 * goal, but only the rollouts on the instructed side count. */
TEST(sim_selection_counts_only_success_on_the_instructed_side)
{
    TrainConfig c;
    REQUIRE(train_config_preset(&c, "student") == 0);
    c.train.select_rollouts = 1;
    SimConfig sc;
    sim_config_default(&sc);
    SimEnv *env = NULL;
    REQUIRE(sim_env_new(&env, &sc) == 0);
    double follows = -1, ignores = -1;
    Policy p;
    SimExpertOptions opt = {SIM_EXPERT_CORE, 0};
    REQUIRE(sim_expert_policy(&p, env, &opt) == 0);
    CHECK(train_sim_score_policy(env, &p, &c.train, &follows) == 0);
    policy_destroy(&p);
    opt.ignore_instruction = 1;
    REQUIRE(sim_expert_policy(&p, env, &opt) == 0);
    SimEvalSpec spec;
    sim_eval_spec_default(&spec);
    spec.rollouts = c.train.select_rollouts, spec.seed = c.train.select_seed, spec.target = c.train.select_target;
    SimEvalResult res;
    REQUIRE(sim_eval_run(env, &p, &spec, &res, NULL, NULL) == 0);
    SimEvalSummary s;
    sim_eval_summarize(&res, -1, -1, -1, -1, &s);
    sim_eval_free(&res);
    CHECK(train_sim_score_policy(env, &p, &c.train, &ignores) == 0);
    policy_destroy(&p);
    sim_env_free(env);
    CHECK_MSG(follows == 1.0, "the expert scores %g", follows);
    CHECK_MSG(s.success == s.n && s.n == 24, "the expert on a random side: %d of %d successes", s.success, s.n);
    CHECK_MSG(ignores > 0.2 && ignores < 0.8, "the expert on a random side scores %g (all its rollouts succeed)", ignores);
}

/* The whole chain on the simulator's episodes: generate, split, train the tiny preset briefly, evaluate on
 * the test split. A smoke test: the learning itself is checked above. */
TEST(train_and_eval_on_simulated_episodes)
{
    char data[1024], manifest[1024], out[1024];
    REQUIRE(make_sim_data(test_tmpdir(), data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", test_tmpdir());
    TrainOptions o;
    tiny_options(&o, data, manifest, out, NULL);
    o.epochs = 2;
    TrainResult r;
    REQUIRE(train_run(&o, &r) == 0);
    CHECK(r.status == TRAIN_COMPLETE && r.epochs_run == 2 && isfinite(r.last_train_loss) && isfinite(r.best_val_mae));
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/checkpoints/best.safetensors", out);
    EvalReport rep;
    REQUIRE(tt_eval_test_split(ck, data, manifest, &rep) == 0);
    CHECK(tt_eval_report_sane(&rep));
    CHECK(rep.n_scenarios >= 1 && strstr(rep.scenarios[0].name, "box_"));
    long kind_episodes = 0; /* every test episode in exactly one kind, core or variant (from its name) */
    for (int i = 0; i < rep.n_kinds; i++) {
        CHECK(!strcmp(rep.kinds[i].name, "core") || !strcmp(rep.kinds[i].name, "variant"));
        kind_episodes += rep.kinds[i].episodes;
    }
    CHECK(kind_episodes == rep.episodes);
    eval_report_free(&rep);
}

/* train.select "sim": every epoch from select_from on is scored in the simulator; best.safetensors is the
 * epoch with the highest success (ties: the lower val MAE), and scoring it again gives the recorded success.
 * Epochs before select_from are not scored, never best, and not counted by patience. */
TEST(train_select_by_closed_loop_success)
{
    char data[1024], manifest[1024], out[1024], cfg_file[1100];
    REQUIRE(make_sim_data(test_tmpdir(), data, manifest) == 0);
    snprintf(out, sizeof out, "%s/run", test_tmpdir());
    snprintf(cfg_file, sizeof cfg_file, "%s/sel.json", test_tmpdir());
    const char *cfg = "{\"preset\": \"tiny\", \"train\": {\"epochs\": 3, \"select\": \"sim\", \"select_rollouts\": 1, "
                      "\"select_from\": 0.34}}";
    REQUIRE(file_write_atomic(cfg_file, cfg, strlen(cfg)) == 0);
    TrainOptions o;
    tiny_options(&o, data, manifest, out, NULL);
    o.config_path = cfg_file;
    TrainResult r;
    REQUIRE(train_run(&o, &r) == 0);
    CHECK(r.status == TRAIN_COMPLETE && r.epochs_run == 3 && r.best_epoch >= 1);
    CHECK(r.best_sim_success >= 0 && r.best_sim_success <= 1);
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[4096];
    int epochs = 0, best_epoch = 0, bad = 0;
    double best = -1, best_mae = 0, lowest_mae = INFINITY;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && !strcmp(json_string_value(json_object_get(j, "type")), "epoch")) {
            double s = json_number_value(json_object_get(j, "sim_success")), mae = json_number_value(json_object_get(j, "val_mae"));
            epochs++;
            if (epochs == 1) { /* (int)(0.34 * 3) = 1 epoch before scoring */
                CHECK(json_is_null(json_object_get(j, "sim_success")) && json_is_false(json_object_get(j, "best")));
                CHECK(json_integer_value(json_object_get(j, "bad_epochs")) == 0);
                lowest_mae = mae;
                json_decref(j);
                continue;
            }
            CHECK(json_is_number(json_object_get(j, "sim_success")) && s >= 0 && s <= 1);
            int better = s > best || (s == best && mae < best_mae);
            if (better) best = s, best_mae = mae, best_epoch = epochs;
            /* patience waits while either the success or the val MAE improves */
            bad = better || mae < lowest_mae ? 0 : bad + 1;
            lowest_mae = fmin(lowest_mae, mae);
            CHECK_MSG(json_integer_value(json_object_get(j, "bad_epochs")) == bad, "epoch %d: bad_epochs %d, expected %d",
                      epochs, (int)json_integer_value(json_object_get(j, "bad_epochs")), bad);
        }
        json_decref(j);
    }
    fclose(f);
    CHECK_MSG(epochs == 3 && best_epoch == r.best_epoch && best == r.best_sim_success,
              "%d epochs; best by the metrics: epoch %d (%g), trainer: epoch %d (%g)", epochs, best_epoch, best,
              r.best_epoch, r.best_sim_success);
    CHECK(!exists(out, "checkpoints/candidate.safetensors"));
    snprintf(path, sizeof path, "%s/checkpoints/best.safetensors", out);
    TrainConfig c;
    REQUIRE(train_config_load(&c, cfg_file) == 0);
    double again = -1;
    REQUIRE(train_sim_score(path, &c.train, &again) == 0);
    CHECK_MSG(again == r.best_sim_success, "best.safetensors scores %g, recorded %g", again, r.best_sim_success);
    snprintf(path, sizeof path, "%s/run.json", out);
    json_t *j = json_load_file(path, 0, NULL);
    REQUIRE(j);
    CHECK(json_number_value(json_object_get(j, "best_sim_success")) == r.best_sim_success);
    json_decref(j);

    /* interrupted at the end of epoch 1 and resumed: the same selection as the uninterrupted run */
    snprintf(out, sizeof out, "%s/run2", test_tmpdir());
    o.out_dir = out;
    o.max_steps = r.steps / 3;
    TrainResult r2;
    REQUIRE(train_run(&o, &r2) == 0);
    CHECK(r2.status == TRAIN_INTERRUPTED);
    o.max_steps = 0;
    o.resume = 1;
    o.config_path = NULL;
    REQUIRE(train_run(&o, &r2) == 0);
    CHECK_MSG(r2.status == TRAIN_COMPLETE && r2.best_epoch == r.best_epoch && r2.best_sim_success == r.best_sim_success,
              "resumed: best epoch %d (%g), uninterrupted: %d (%g)", r2.best_epoch, r2.best_sim_success, r.best_epoch,
              r.best_sim_success);
}

/* Window batching (the former default) still trains and resumes exactly: an interrupted run resumed
 * matches the uninterrupted one. */
TEST(train_window_batching_resume_matches)
{
    char base[512], data[1024], manifest[1024], a[1024], b[1024], cache[1024], cfg_file[1200];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    REQUIRE(make_data_and_split(base, 0, data, manifest) == 0);
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    snprintf(cache, sizeof cache, "%s/frames.cache", base);
    snprintf(cfg_file, sizeof cfg_file, "%s/win.json", base);
    const char *cfg = "{\"preset\": \"tiny\", \"train\": {\"epochs\": 2, \"log_every\": 1, \"batching\": \"window\","
                      "  \"augment\": {\"rotate_deg\": 3, \"mirror_prob\": 0.5}}}";
    REQUIRE(file_write_atomic(cfg_file, cfg, strlen(cfg)) == 0);
    TrainOptions o;
    tiny_options(&o, data, manifest, a, cache);
    o.config_path = cfg_file;
    TrainResult ra, rb;
    REQUIRE(train_run(&o, &ra) == 0);
    CHECK(ra.status == TRAIN_COMPLETE && ra.steps == 12); /* 44 windows in batches of 8 */
    o.out_dir = b;
    o.max_steps = 8;
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_INTERRUPTED && rb.steps == 8);
    o.max_steps = 0;
    o.resume = 1;
    o.config_path = NULL;
    REQUIRE(train_run(&o, &rb) == 0);
    CHECK(rb.status == TRAIN_COMPLETE && rb.steps == 12);
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/metrics.jsonl", a);
    snprintf(pb, sizeof pb, "%s/metrics.jsonl", b);
    char *ma = metrics_without_timing(pa), *mb = metrics_without_timing(pb);
    CHECK(ma && mb && strcmp(ma, mb) == 0);
    free(ma);
    free(mb);
}
