/* Offline evaluation (see evaluate.h): episodes from the frame cache through the model's runner, metrics per
 * scenario, side and kind (core/variant), the swapped-instruction test, leakage checks, JSON and table output. */
#include "train/evaluate.h"

#include "base/error.h"
#include "base/file.h"
#include "base/progress.h"
#include "base/str_order.h"
#include "data/actions.h"
#include "data/augment.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "data/split.h"
#include "io/episode.h"
#include "io/safetensors.h"
#include "models/policy_model.h"
#include "runtime/model_file.h"
#include "runtime/model_runner.h"
#include "train/model_meta.h"
#include "train/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eval_options_default(EvalOptions *o)
{
    memset(o, 0, sizeof *o);
    o->split = "test";
    o->fold = -1;
    o->instruction_test = 1;
}

void eval_run_dir(const char *checkpoint, char *buf, size_t n)
{
    snprintf(buf, n, "%s", checkpoint);
    char *slash = strrchr(buf, '/');
    if (!slash) {
        snprintf(buf, n, ".");
        return;
    }
    *slash = 0;
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    if (strcmp(base, "checkpoints") == 0) {
        if (base == buf) snprintf(buf, n, ".");
        else buf[base - buf - 1] = 0;
    }
    if (!buf[0]) snprintf(buf, n, "/");
}

/* ---- groups ---- */

typedef struct {
    char name[40];
    long episodes;
    MetricsAccum m;
    InstrTestAccum it;
} Acc;

typedef struct {
    Acc *a;
    int n;
} AccList;

static Acc *acc_get(AccList *l, const char *name)
{
    const char *key = name && name[0] ? name : "unknown";
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->a[i].name, key) == 0) return &l->a[i];
    Acc *bigger = realloc(l->a, sizeof(Acc) * (size_t)(l->n + 1));
    if (!bigger) return NULL;
    l->a = bigger;
    Acc *a = &l->a[l->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", key);
    return a;
}

static int cmp_acc(const void *x, const void *y) { return strcmp(((const Acc *)x)->name, ((const Acc *)y)->name); }

static int groups_finish(AccList *l, EvalGroup **out, int *n)
{
    qsort(l->a, (size_t)l->n, sizeof(Acc), cmp_acc);
    *out = calloc((size_t)(l->n ? l->n : 1), sizeof(EvalGroup));
    if (!*out) return mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
    for (int i = 0; i < l->n; i++) {
        EvalGroup *g = &(*out)[i];
        snprintf(g->name, sizeof g->name, "%s", l->a[i].name);
        g->episodes = l->a[i].episodes;
        metrics_finish(&l->a[i].m, &g->m);
        instr_test_finish(&l->a[i].it, &g->it);
    }
    *n = l->n;
    return 0;
}

/* ---- the episode list ---- */

typedef struct {
    CacheSource *src;   /* every episode for the cache (the manifest's union, or the folder) */
    int n_src;
    const char **eval_files, **eval_hashes; /* the episodes to score */
    int n_eval;
    SplitSets *sets;
    Dataset *ds;
} Episodes;

static void episodes_free(Episodes *e)
{
    free(e->src);
    free(e->eval_files);
    free(e->eval_hashes);
    split_sets_free(e->sets);
    dataset_free(e->ds);
}

static int list_from_manifest(Episodes *e, const EvalOptions *o, int fold)
{
    int rc = split_load(o->manifest, o->data_dir, fold, &e->sets);
    if (rc) return rc;
    SplitSets *s = e->sets;
    const SplitList *lists[3] = {&s->train, &s->val, &s->test}, *chosen = NULL;
    const char *names[3] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++)
        if (strcmp(o->split, names[i]) == 0) chosen = lists[i];
    if (!chosen) return mvla_fail(MVLA_ERR_ARG, "eval: split \"%s\": expected \"test\", \"val\" or \"train\"", o->split);
    if (chosen->n == 0) return mvla_fail(MVLA_ERR_ARG, "manifest %s: the %s set is empty", o->manifest, o->split);
    int n = s->train.n + s->val.n + s->test.n;
    e->src = malloc(sizeof(CacheSource) * (size_t)n);
    e->eval_files = malloc(sizeof(char *) * (size_t)chosen->n);
    e->eval_hashes = malloc(sizeof(char *) * (size_t)chosen->n);
    if (!e->src || !e->eval_files || !e->eval_hashes) return mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < lists[l]->n; i++) e->src[e->n_src++] = (CacheSource){lists[l]->e[i].file, lists[l]->e[i].hash};
    for (int i = 0; i < chosen->n; i++) {
        e->eval_files[i] = chosen->e[i].file;
        e->eval_hashes[i] = chosen->e[i].hash;
    }
    e->n_eval = chosen->n;
    return 0;
}

static int list_from_folder(Episodes *e, const EvalOptions *o)
{
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    dopt.isolate = 1;
    int rc = dataset_open(&e->ds, o->data_dir, &dopt);
    if (rc) return rc;
    int n = dataset_usable(e->ds);
    if (n == 0) return mvla_fail(MVLA_ERR_ARG, "eval: %s: no usable episodes", o->data_dir);
    e->src = malloc(sizeof(CacheSource) * (size_t)n);
    e->eval_files = malloc(sizeof(char *) * (size_t)n);
    e->eval_hashes = malloc(sizeof(char *) * (size_t)n);
    if (!e->src || !e->eval_files || !e->eval_hashes) return mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
    for (int i = 0; i < e->ds->count; i++) {
        const DatasetEpisode *d = &e->ds->episodes[i];
        if (!d->usable) continue;
        e->src[e->n_src++] = (CacheSource){d->file, d->hash};
        e->eval_files[e->n_eval] = d->file;
        e->eval_hashes[e->n_eval++] = d->hash;
    }
    return 0;
}

/* ---- the model ---- */

/* A training checkpoint (PolicyModel, its metadata in "mvla.metadata") or a model file (ModelFile:
 * one policy or an ensemble, stepped through a ModelRunner: the members' mean). */
typedef struct {
    int is_file;
    PolicyModel pm;
    ModelFile mf;
    ModelRunner *run;      /* over mf or pm */
} EvalModel;

static void eval_model_free(EvalModel *m)
{
    model_runner_free(m->run);
    if (m->is_file) model_file_free(&m->mf);
    else policy_model_free(&m->pm);
    memset(m, 0, sizeof *m);
}

static const StudentConfig *eval_model_config(const EvalModel *m)
{
    if (!m->is_file) return policy_model_config(&m->pm);
    return m->mf.clip ? &m->mf.clip->act.cfg : &m->mf.policy.cfg;
}

static long eval_model_params(EvalModel *m)
{
    if (!m->is_file) return policy_model_param_count(&m->pm);
    if (m->mf.clip) return clip_policy_param_count(m->mf.clip);
    long n = 0;
    for (int i = 0; i < m->mf.n_members; i++) n += student_param_count(model_file_member(&m->mf, i));
    return n;
}

/* Adds the hashes of a "train_episodes" array (if any) to meta's training episodes. */
static int add_train_hashes(ModelMeta *meta, json_t *list, const char *path)
{
    if (!json_is_array(list)) return 0;
    size_t n = json_array_size(list);
    char **h = realloc(meta->train_hashes, sizeof(char *) * ((size_t)meta->n_train + n + 1));
    if (!h) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    meta->train_hashes = h;
    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(json_array_get(list, i));
        if (!v) return mvla_fail(MVLA_ERR_FORMAT, "%s: provenance train_episodes[%zu]: expected a string", path, i);
        if (!(h[meta->n_train] = strdup(v))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        meta->n_train++;
    }
    meta->has_provenance = 1;
    return 0;
}

/* What a model file records of a checkpoint's metadata: its preprocessing, language and instruction
 * override, and its provenance's training episodes (an ensemble's: every member's). The instruction
 * mapping file is not recorded (--instructions gives it), nor skip_start (the trainer's default, 1). */
static int model_file_meta(ModelMeta *meta, const ModelFile *mf, const char *meta_text, const char *path)
{
    memset(meta, 0, sizeof *meta);
    meta->pre = mf->pre;
    snprintf(meta->lang, sizeof meta->lang, "%s", mf->lang[0] ? mf->lang : "en");
    meta->skip_start = 1;
    meta->fold = -1;
    meta->epoch = -1;
    if (mf->instruction && mf->instruction[0] && !(meta->instruction = strdup(mf->instruction)))
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    json_t *root = json_loads(meta_text ? meta_text : "", 0, NULL), *pv = json_object_get(root, "provenance");
    json_t *fold = json_object_get(pv, "fold"), *members = json_object_get(pv, "members");
    if (json_is_integer(fold)) meta->fold = (int)json_integer_value(fold);
    int rc = add_train_hashes(meta, json_object_get(pv, "train_episodes"), path);
    for (size_t i = 0; !rc && i < json_array_size(members); i++)
        rc = add_train_hashes(meta, json_object_get(json_array_get(members, i), "train_episodes"), path);
    const char *manifest = json_string_value(json_object_get(pv, "manifest"));
    if (!rc && manifest && !(meta->manifest = strdup(manifest))) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    json_decref(root);
    str_sort(meta->train_hashes, (size_t)meta->n_train);
    return rc;
}

/* Opens either form and reads its metadata. */
static int eval_model_open(EvalModel *m, ModelMeta *meta, const char *path)
{
    memset(m, 0, sizeof *m);
    memset(meta, 0, sizeof *meta);
    if (!model_file_is(path)) {
        int rc = policy_model_load(&m->pm, path);
        if (rc) return rc;
        if ((rc = model_meta_read(meta, path, policy_model_config(&m->pm)))) eval_model_free(m);
        return rc;
    }
    m->is_file = 1;
    int rc = model_open(&m->mf, path);
    if (rc) {
        memset(m, 0, sizeof *m);
        return rc;
    }
    SafeTensors *st = NULL;
    if (!(rc = st_open(&st, path))) rc = model_file_meta(meta, &m->mf, st_metadata(st, MODEL_META_KEY), path);
    st_close(st);
    if (rc) {
        model_meta_free(meta);
        eval_model_free(m);
    }
    return rc;
}

static int eval_model_runner(EvalModel *m)
{
    m->run = m->is_file ? model_runner_new(&m->mf) : model_runner_checkpoint(&m->pm);
    return m->run ? 0 : MVLA_ERR_NOMEM;
}

/* ---- one episode ---- */

/* Steps the runner over every frame of episode ci with instruction text; actions [T, 3]. */
/* From frame `first` on, as the robot sees them: with skip_start frame 0 is not replayed at all. */
static int replay(EvalModel *m, const FrameCache *c, int ci, int first, const char *text, float *actions)
{
    int rc = model_runner_set_instruction(m->run, text);
    const CacheEpisode *ep = cache_episode(c, ci);
    for (int t = first; !rc && t < ep->num_frames; t++) {
        const uint8_t *rgb = cache_frame(c, ci, t);
        rc = model_runner_step_rgb(m->run, rgb, actions + 3 * t, NULL);
    }
    return rc;
}

/* A model file's default frame cache and JSON: MODEL minus ".safetensors" + suffix. */
void eval_model_file_sibling(const char *model, const char *suffix, char *buf, size_t n)
{
    size_t len = strlen(model), ext = strlen(".safetensors");
    if (len > ext && !strcmp(model + len - ext, ".safetensors")) len -= ext;
    snprintf(buf, n, "%.*s%s", (int)len, model, suffix);
}

/* One scored frame of the --frames CSV (swapped: the instruction test's action, or NULL). */
static void frame_row(StrBuf *b, const char *file, int t, int pred_key, int target_key, const float *target,
                      const float *pred, const float *swapped)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    strbuf_csv(b, base);
    strbuf_printf(b, ",%d,%s,%s,%g,%g,%g,%.4f,%.4f,%.4f,", t,
                  target_key >= 0 ? action_key_name(ACTION_KEYS[target_key]) : "?",
                  pred_key >= 0 ? action_key_name(ACTION_KEYS[pred_key]) : "?", target[0], target[1], target[2], pred[0],
                  pred[1], pred[2]);
    if (swapped) strbuf_printf(b, "%.4f", swapped[1]);
    strbuf_puts(b, "\n");
}

int eval_run(const EvalOptions *o, EvalReport *r)
{
    memset(r, 0, sizeof *r);
    if (!o->checkpoint || !o->data_dir) return mvla_fail(MVLA_ERR_ARG, "eval: a checkpoint and a dataset folder are needed");
    const char *split = o->split ? o->split : "test";
    EvalOptions opt = *o;
    opt.split = split;
    if (!o->manifest && strcmp(split, "test") != 0)
        return mvla_fail(MVLA_ERR_ARG, "eval: split \"%s\" needs a manifest (without one every episode of the folder "
                         "is evaluated)", split);
    double t0 = time_now();
    EvalModel p; /* the student or a CLIP head (with its backbone), or a model file */
    ModelMeta meta;
    int rc = eval_model_open(&p, &meta, o->checkpoint);
    if (rc) return rc;
    const StudentConfig *pcfg = eval_model_config(&p);
    Episodes eps;
    memset(&eps, 0, sizeof eps);
    FrameCache *cache = NULL;
    float *pred = NULL, *pred2 = NULL;
    AccList scen = {0}, sides = {0}, kinds = {0};
    MetricsAccum all;
    InstrTestAccum all_it;
    metrics_init(&all);
    instr_test_init(&all_it);
    int fold = o->fold >= 0 ? o->fold : meta.fold;
    rc = o->manifest ? list_from_manifest(&eps, &opt, fold) : list_from_folder(&eps, &opt);
    /* leakage: nothing the model was trained on may be scored (unless the training split is asked for) */
    for (int i = 0; !rc && strcmp(split, "train") != 0 && i < eps.n_eval; i++)
        if (model_meta_trained_on(&meta, eps.eval_hashes[i]))
            rc = mvla_fail(MVLA_ERR_ARG, "eval: episode %s (%s set) was in the training set of %s (manifest %s): "
                           "refusing to score a model on its own training data", eps.eval_files[i], split,
                           o->checkpoint, meta.manifest ? meta.manifest : "?");
    char cache_buf[4096];
    if (!rc) {
        const char *cpath = o->cache_path;
        if (!cpath && p.is_file) { /* no run folder: beside the model file */
            eval_model_file_sibling(o->checkpoint, o->manifest ? ".frames.cache" : ".eval_frames.cache", cache_buf,
                                    sizeof cache_buf);
            cpath = cache_buf;
        } else if (!cpath) {
            char dir[4000];
            eval_run_dir(o->checkpoint, dir, sizeof dir);
            snprintf(cache_buf, sizeof cache_buf, "%s/%s", dir, o->manifest ? "frames.cache" : "eval_frames.cache");
            cpath = cache_buf;
            if (o->manifest) { /* the training run's cache (run.json "cache") when it still exists */
                char run_json[4100];
                snprintf(run_json, sizeof run_json, "%s/run.json", dir);
                json_t *rj = json_load_file(run_json, 0, NULL);
                const char *c = json_string_value(json_object_get(rj, "cache"));
                FILE *fp = c ? fopen(c, "rb") : NULL;
                if (fp) {
                    fclose(fp);
                    snprintf(cache_buf, sizeof cache_buf, "%s", c);
                }
                json_decref(rj);
            }
        }
        CacheOptions copt = {0};
        copt.lang = o->lang ? o->lang : meta.lang;
        copt.mapping_path = o->instructions ? o->instructions : meta.instructions;
        copt.instruction = o->instruction ? o->instruction : meta.instruction;
        rc = cache_open_or_build(&cache, cpath, o->data_dir, eps.src, eps.n_src, &meta.pre, &copt, NULL);
    }
    long max_t = 1;
    for (int i = 0; !rc && i < eps.n_eval; i++) {
        int ci = cache_find(cache, eps.eval_files[i]);
        if (ci < 0) rc = mvla_fail(MVLA_ERR_FORMAT, "eval: %s is not in the cache", eps.eval_files[i]);
        else if (cache_episode(cache, ci)->num_frames > max_t) max_t = cache_episode(cache, ci)->num_frames;
    }
    if (!rc && (!(pred = malloc(sizeof(float) * 3 * (size_t)max_t)) || !(pred2 = malloc(sizeof(float) * 3 * (size_t)max_t))))
        rc = mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
    if (!rc) rc = eval_model_runner(&p);
    float kv = (float)pcfg->action.key_value;
    int first = meta.skip_start ? 1 : 0;
    StrBuf csv;
    strbuf_init(&csv);
    if (o->frames_csv)
        strbuf_puts(&csv, "episode,frame,target_key,predicted_key,target_linear_x,target_linear_y,target_angular_z,"
                          "predicted_linear_x,predicted_linear_y,predicted_angular_z,swapped_linear_y\n");
    for (int i = 0; !rc && i < eps.n_eval; i++) {
        int ci = cache_find(cache, eps.eval_files[i]);
        const CacheEpisode *ep = cache_episode(cache, ci);
        if ((rc = replay(&p, cache, ci, first, ep->instruction, pred))) break;
        char *swapped = NULL;
        int test_it = o->instruction_test;
        if (test_it) {
            if (!(swapped = augment_swap_sides(ep->instruction))) {
                rc = mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
                break;
            }
            test_it = strcmp(swapped, ep->instruction) != 0; /* no side named: nothing to swap */
            if (test_it) rc = replay(&p, cache, ci, first, swapped, pred2);
            free(swapped);
            if (rc) break;
        }
        EpisodeName name;
        episode_parse_name(eps.eval_files[i], &name);
        Acc *g[3] = {acc_get(&scen, ep->scenario), acc_get(&sides, ep->side), acc_get(&kinds, name.kind)};
        if (!g[0] || !g[1] || !g[2]) {
            rc = mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
            break;
        }
        for (int t = first; t < ep->num_frames; t++) {
            const float *a = pred + 3 * t, *tg = ep->actions + 3 * t;
            int pk = metrics_key_of(a, kv), tk = metrics_key_of(tg, kv);
            if (o->frames_csv) frame_row(&csv, eps.eval_files[i], t, pk, tk, tg, a, test_it ? pred2 + 3 * t : NULL);
            metrics_add(&all, a, tg, pk, tk);
            if (test_it) instr_test_add(&all_it, tg[1], a[1], pred2[3 * t + 1]);
            for (int k = 0; k < 3; k++) {
                metrics_add(&g[k]->m, a, tg, pk, tk);
                if (test_it) instr_test_add(&g[k]->it, tg[1], a[1], pred2[3 * t + 1]);
            }
        }
        for (int k = 0; k < 3; k++) g[k]->episodes++;
        r->episodes++;
        if (o->progress) o->progress(o->ctx, i + 1, eps.n_eval);
    }
    if (!rc) {
        metrics_finish(&all, &r->overall);
        instr_test_finish(&all_it, &r->instr);
        r->frames = all.n;
        r->parameters = eval_model_params(&p);
        r->members = p.is_file && !p.mf.clip ? p.mf.n_members : 1;
        r->fold = fold;
        r->checkpoint = strdup(o->checkpoint);
        char name[STUDENT_NAME_MAX + 16];
        if (r->members > 1) snprintf(name, sizeof name, "%s x%d", pcfg->name, r->members);
        else snprintf(name, sizeof name, "%s", pcfg->name);
        r->model_name = strdup(name);
        r->data_dir = strdup(o->data_dir);
        r->manifest = o->manifest ? strdup(o->manifest) : NULL;
        r->split = strdup(o->manifest ? split : "folder");
        if (!r->checkpoint || !r->model_name || !r->data_dir || (o->manifest && !r->manifest) || !r->split)
            rc = mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
    }
    if (!rc && o->frames_csv) {
        char *text = strbuf_take(&csv);
        rc = text ? file_write_atomic(o->frames_csv, text, strlen(text)) : mvla_fail(MVLA_ERR_NOMEM, "eval: out of memory");
        free(text);
    }
    strbuf_free(&csv);
    if (!rc) rc = groups_finish(&scen, &r->scenarios, &r->n_scenarios);
    if (!rc) rc = groups_finish(&sides, &r->sides, &r->n_sides);
    if (!rc) rc = groups_finish(&kinds, &r->kinds, &r->n_kinds);
    r->seconds = time_now() - t0;
    free(scen.a);
    free(sides.a);
    free(kinds.a);
    free(pred);
    free(pred2);
    cache_close(cache);
    episodes_free(&eps);
    model_meta_free(&meta);
    eval_model_free(&p);
    if (rc) eval_report_free(r);
    return rc;
}

void eval_report_free(EvalReport *r)
{
    free(r->checkpoint);
    free(r->model_name);
    free(r->data_dir);
    free(r->manifest);
    free(r->split);
    free(r->scenarios);
    free(r->sides);
    free(r->kinds);
    memset(r, 0, sizeof *r);
}

/* ---- output ---- */

static json_t *group_json(const EvalGroup *g)
{
    json_t *o = action_metrics_json(&g->m);
    json_object_set_new(o, "episodes", json_integer(g->episodes));
    json_object_set_new(o, "instruction_test", instr_test_json(&g->it));
    return o;
}

json_t *eval_report_json(const EvalReport *r)
{
    json_t *o = json_object(), *sc = json_object(), *sd = json_object(), *kd = json_object();
    json_object_set_new(o, "format", json_string("mvla-eval"));
    json_object_set_new(o, "checkpoint", json_string(r->checkpoint ? r->checkpoint : ""));
    json_object_set_new(o, "model", json_string(r->model_name ? r->model_name : ""));
    json_object_set_new(o, "data_dir", json_string(r->data_dir ? r->data_dir : ""));
    json_object_set_new(o, "manifest", r->manifest ? json_string(r->manifest) : json_null());
    json_object_set_new(o, "split", json_string(r->split ? r->split : ""));
    json_object_set_new(o, "fold", json_integer(r->fold));
    json_object_set_new(o, "episodes", json_integer(r->episodes));
    json_object_set_new(o, "frames", json_integer(r->frames));
    json_object_set_new(o, "parameters", json_integer(r->parameters));
    if (r->members > 1) json_object_set_new(o, "members", json_integer(r->members));
    json_object_set_new(o, "units", json_string("raw (m/s, rad/s)"));
    json_object_set_new(o, "overall", action_metrics_json(&r->overall));
    json_object_set_new(o, "instruction_test", instr_test_json(&r->instr));
    for (int i = 0; i < r->n_scenarios; i++) json_object_set_new(sc, r->scenarios[i].name, group_json(&r->scenarios[i]));
    for (int i = 0; i < r->n_sides; i++) json_object_set_new(sd, r->sides[i].name, group_json(&r->sides[i]));
    json_object_set_new(o, "scenarios", sc);
    json_object_set_new(o, "sides", sd);
    for (int i = 0; i < r->n_kinds; i++) json_object_set_new(kd, r->kinds[i].name, group_json(&r->kinds[i]));
    json_object_set_new(o, "kinds", kd);
    json_object_set_new(o, "seconds", json_real(r->seconds));
    return o;
}

int eval_report_write_json(const EvalReport *r, const char *path)
{
    json_t *j = eval_report_json(r);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = file_write_atomic(path, text, n + 1);
    free(text);
    return rc;
}

static void pct(StrBuf *b, double v)
{
    if (isfinite(v)) strbuf_printf(b, " %7.1f%%", 100 * v);
    else strbuf_printf(b, " %8s", "-");
}

static void num(StrBuf *b, double v)
{
    if (isfinite(v)) strbuf_printf(b, " %8.4f", v);
    else strbuf_printf(b, " %8s", "-");
}

static void group_rows(StrBuf *b, const char *title, const EvalGroup *g, int n)
{
    strbuf_printf(b, "\n%-16s %8s %8s %8s %8s %8s %8s %8s\n", title, "episodes", "frames", "MAE", "RMSE", "PM", "DA",
                  "follow");
    for (int i = 0; i < n; i++) {
        strbuf_printf(b, "%-16s %8ld %8ld", g[i].name, g[i].episodes, g[i].m.n);
        num(b, g[i].m.mae);
        num(b, g[i].m.rmse);
        pct(b, g[i].m.perfect_match);
        pct(b, g[i].m.direction_agreement);
        pct(b, g[i].it.follow_both);
        strbuf_puts(b, "\n");
    }
}

char *eval_report_table(const EvalReport *r)
{
    StrBuf b;
    strbuf_init(&b);
    static const char *const axes[3] = {"linear_x", "linear_y", "angular_z"};
    strbuf_printf(&b, "model %s (%ld parameters) on %s: %ld episodes, %ld frames; raw units (m/s, rad/s)\n",
                  r->model_name, r->parameters, r->manifest ? r->split : r->data_dir, r->episodes, r->frames);
    strbuf_printf(&b, "\n%-16s %8s %8s", "", "MAE", "RMSE");
    for (int k = 0; k < METRICS_N_THRESHOLDS; k++) strbuf_printf(&b, "   <%-5g", METRICS_THRESHOLDS[k]);
    strbuf_printf(&b, " %8s\n", "DA");
    for (int j = 0; j < 3; j++) {
        strbuf_printf(&b, "%-16s", axes[j]);
        num(&b, r->overall.mae_axis[j]);
        num(&b, r->overall.rmse_axis[j]);
        for (int k = 0; k < METRICS_N_THRESHOLDS; k++) pct(&b, r->overall.thr_acc[k][j]);
        pct(&b, r->overall.direction_axis[j]);
        strbuf_puts(&b, "\n");
    }
    strbuf_printf(&b, "%-16s", "overall");
    num(&b, r->overall.mae);
    num(&b, r->overall.rmse);
    strbuf_printf(&b, "   perfect match (key)");
    pct(&b, r->overall.perfect_match);
    strbuf_printf(&b, "   direction agreement");
    pct(&b, r->overall.direction_agreement);
    strbuf_puts(&b, "\n");
    group_rows(&b, "scenario", r->scenarios, r->n_scenarios);
    group_rows(&b, "side", r->sides, r->n_sides);
    group_rows(&b, "kind", r->kinds, r->n_kinds);
    const InstrTestResult *it = &r->instr;
    if (it->frames > 0) {
        strbuf_printf(&b, "\ninstruction test (left/right swapped in the instruction, %ld frames):\n", it->frames);
        strbuf_printf(&b, "  the predicted slide follows the instruction on");
        pct(&b, it->follow_both);
        strbuf_printf(&b, " of %ld frames whose target slides (true instruction", it->lateral);
        pct(&b, it->follow_true);
        strbuf_printf(&b, ", swapped");
        pct(&b, it->follow_swapped);
        strbuf_printf(&b, ")\n  the predicted slide direction changes on");
        pct(&b, it->changed);
        strbuf_printf(&b, " of all frames; mean |linear_y(true) - linear_y(swapped)| = %.4f\n", it->mean_abs_dy);
    } else {
        strbuf_printf(&b, "\ninstruction test: not run (no instruction names a side)\n");
    }
    return strbuf_take(&b);
}
