/* The leaderboard over run folders (see leaderboard.h). */
#include "train/leaderboard.h"

#include "base/error.h"
#include "base/file.h"
#include "base/str_order.h"
#include "train/strbuf.h"
#include "train/train_config.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void leaderboard_human_bytes(double b, char *buf, int n)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    snprintf(buf, (size_t)n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void row_free(LeaderboardRow *r)
{
    free(r->dir);
    free(r->model);
    free(r->dataset);
    free(r->features);
    run_curves_free(&r->curves);
}

void leaderboard_free(Leaderboard *lb)
{
    for (int i = 0; i < lb->n; i++) row_free(&lb->rows[i]);
    free(lb->rows);
    free(lb->runs_dir);
    memset(lb, 0, sizeof *lb);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static double num_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b) v = json_object_get(v, b);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Loads an optional JSON file: *out NULL when it does not exist; an error when it is malformed. */
static int load_optional(const char *path, json_t **out)
{
    *out = NULL;
    if (!is_file(path)) return 0;
    json_error_t err;
    if (!(*out = json_load_file(path, 0, &err)))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    return 0;
}

static const char *base_name(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/') s--;
    return s;
}

/* An ensemble's folder (train/ensemble_run.h): its run.json says so. */
static int is_ensemble_dir(const char *runs_dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/run.json", runs_dir, name);
    json_t *o = json_load_file(path, 0, NULL);
    const char *f = json_string_value(json_object_get(o, "format"));
    int yes = f && strcmp(f, "mvla-ensemble") == 0;
    json_decref(o);
    return yes;
}

/* One run folder into r. */
static int read_run(LeaderboardRow *r, const char *runs_dir, const char *name)
{
    char path[4096];
    memset(r, 0, sizeof *r);
    r->test_mae = r->key_match = r->instr_follow = r->val_loss = r->train_loss = r->val_mae = NAN;
    r->sim_success = r->sim_adherence = NAN;
    r->parameters = r->model_bytes = -1;
    if (!(r->dir = strdup(name))) return mvla_fail(MVLA_ERR_NOMEM, "leaderboard: out of memory");

    TrainConfig cfg;
    snprintf(path, sizeof path, "%s/%s/config.json", runs_dir, name);
    int rc = train_config_load(&cfg, path);
    if (rc) return rc;
    char features[160];
    train_config_features(&cfg, features, sizeof features);
    r->model = strdup(cfg.policy.name);

    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", runs_dir, name);
    if (is_file(path) && (rc = run_curves_read(&r->curves, path))) return rc;
    r->epochs = is_file(path) ? r->curves.n : -1; /* an ensemble's folder has no curves of its own */
    /* the best epoch: lowest val MAE (the first of equals), else the last epoch */
    int best = r->curves.n - 1;
    for (int i = 0; i < r->curves.n; i++)
        if (isfinite(r->curves.val_mae[i]) && (!isfinite(r->curves.val_mae[best]) || r->curves.val_mae[i] < r->curves.val_mae[best]))
            best = i;
    if (best >= 0) {
        r->best_epoch = (int)r->curves.epoch[best];
        r->val_loss = r->curves.val_loss[best];
        r->train_loss = r->curves.train_loss[best];
        r->val_mae = r->curves.val_mae[best];
    }

    json_t *run, *ev, *sim;
    snprintf(path, sizeof path, "%s/%s/run.json", runs_dir, name);
    if ((rc = load_optional(path, &run))) return rc;
    char dataset[600] = "?";
    if (run) {
        double p = num_at(run, "parameters", NULL), b = num_at(run, "model_bytes", NULL);
        if (isfinite(p)) r->parameters = (long)p;
        if (isfinite(b)) r->model_bytes = (long)b;
        const char *f = json_string_value(json_object_get(run, "features"));
        if (f) snprintf(features, sizeof features, "%s", f);
        const char *d = json_string_value(json_object_get(run, "data_dir"));
        double tr = num_at(run, "episodes", "train"), va = num_at(run, "episodes", "val"), te = num_at(run, "episodes", "test");
        if (d && isfinite(tr))
            snprintf(dataset, sizeof dataset, "%s (%.0f/%.0f/%.0f)", base_name(d), tr, isfinite(va) ? va : 0,
                     isfinite(te) ? te : 0);
        json_decref(run);
    }
    if (r->model_bytes < 0) { /* fall back on the model file's size */
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/checkpoints/best.safetensors", runs_dir, name);
        if (stat(path, &st) == 0) r->model_bytes = (long)st.st_size;
    }
    r->features = strdup(features);
    r->dataset = strdup(dataset);

    snprintf(path, sizeof path, "%s/%s/eval.json", runs_dir, name);
    if ((rc = load_optional(path, &ev))) return rc;
    if (ev) {
        const char *split = json_string_value(json_object_get(ev, "split"));
        if (split && strcmp(split, "test") == 0) {
            r->test_mae = num_at(ev, "overall", "mae");
            r->key_match = num_at(ev, "overall", "perfect_match");
            r->instr_follow = num_at(ev, "instruction_test", "follow");
        }
        json_decref(ev);
    }
    snprintf(path, sizeof path, "%s/%s/sim_eval.json", runs_dir, name);
    if ((rc = load_optional(path, &sim))) return rc;
    if (sim) {
        r->sim_success = num_at(sim, "overall", "success_rate");
        r->sim_adherence = num_at(sim, "overall", "adherence");
        json_decref(sim);
    }
    if (!r->model || !r->features || !r->dataset) return mvla_fail(MVLA_ERR_NOMEM, "leaderboard: out of memory");
    return 0;
}

/* NaN sorts last; lo_first: ascending. */
static int cmp_num(double a, double b, int lo_first)
{
    int fa = isfinite(a), fb = isfinite(b);
    if (fa != fb) return fa ? -1 : 1;
    if (!fa || a == b) return 0;
    return (a < b) == lo_first ? -1 : 1;
}

static int cmp_rows(const void *x, const void *y)
{
    const LeaderboardRow *a = x, *b = y;
    int c = cmp_num(a->test_mae, b->test_mae, 1);
    if (!c) c = cmp_num(a->sim_success, b->sim_success, 0);
    if (!c) c = cmp_num(a->val_mae, b->val_mae, 1);
    return c ? c : strcmp(a->dir, b->dir);
}

int leaderboard_scan(Leaderboard *lb, const char *runs_dir)
{
    memset(lb, 0, sizeof *lb);
    DIR *d = opendir(runs_dir);
    if (!d) return mvla_fail(MVLA_ERR_IO, "%s: cannot open the runs folder", runs_dir);
    char **names = NULL;
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s/config.json", runs_dir, e->d_name);
        snprintf(b, sizeof b, "%s/%s/metrics.jsonl", runs_dir, e->d_name);
        if (!is_file(a) || (!is_file(b) && !is_ensemble_dir(runs_dir, e->d_name))) continue;
        char **bigger = realloc(names, sizeof(char *) * (size_t)(n + 1));
        if (!bigger || !(bigger[n] = strdup(e->d_name))) {
            if (bigger) names = bigger;
            rc = mvla_fail(MVLA_ERR_NOMEM, "leaderboard: out of memory");
            break;
        }
        names = bigger;
        n++;
    }
    closedir(d);
    if (!rc) str_sort(names, (size_t)n);
    lb->runs_dir = strdup(runs_dir);
    lb->rows = calloc((size_t)(n ? n : 1), sizeof(LeaderboardRow));
    if (!rc && (!lb->rows || !lb->runs_dir)) rc = mvla_fail(MVLA_ERR_NOMEM, "leaderboard: out of memory");
    for (int i = 0; !rc && i < n; i++) {
        rc = read_run(&lb->rows[i], runs_dir, names[i]);
        lb->n = i + 1;
        if (!rc) lb->has_sim |= isfinite(lb->rows[i].sim_success);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) {
        leaderboard_free(lb);
        return rc;
    }
    qsort(lb->rows, (size_t)lb->n, sizeof(LeaderboardRow), cmp_rows);
    return 0;
}

/* ---- output ---- */

static void cell_num(StrBuf *b, double v, const char *fmt)
{
    if (isfinite(v)) strbuf_printf(b, fmt, v);
    else strbuf_puts(b, "-");
}

static void cell_pct(StrBuf *b, double v)
{
    if (isfinite(v)) strbuf_printf(b, "%.1f%%", 100 * v);
    else strbuf_puts(b, "-");
}

static void cell_long(StrBuf *b, long v)
{
    if (v >= 0) strbuf_printf(b, "%ld", v);
    else strbuf_puts(b, "-");
}

static void cell_bytes(StrBuf *b, long v)
{
    char h[32];
    leaderboard_human_bytes((double)v, h, sizeof h);
    strbuf_puts(b, v >= 0 ? h : "-");
}

/* Markdown cell text: '|' would end the cell. */
static void md_text(StrBuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') strbuf_puts(b, "\\|");
        else strbuf_printf(b, "%c", *s);
    }
}

/* The last two (closed loop) only when some run has sim_eval.json. */
static const char *const HEADERS[] = {"rank",     "model",      "test MAE", "key match", "val loss",
                                      "train loss", "epochs",   "size",      "parameters", "dataset",
                                      "features", "instruction follow", "closed-loop success", "adherence"};
#define N_HEADERS 14

/* The cells of row i in order (format: 0 markdown, 1 html). */
static void row_cells(StrBuf *b, const Leaderboard *lb, int i, int html)
{
    const LeaderboardRow *r = &lb->rows[i];
    int cols = lb->has_sim ? N_HEADERS : N_HEADERS - 2;
    for (int c = 0; c < cols; c++) {
        strbuf_puts(b, html ? "<td>" : "| ");
        switch (c) {
        case 0: strbuf_printf(b, "%d", i + 1); break;
        case 1:
            if (html) strbuf_printf(b, "<a href=\"#run-%d\">", i + 1), strbuf_xml(b, r->dir), strbuf_puts(b, "</a>");
            else md_text(b, r->dir);
            break;
        case 2: cell_num(b, r->test_mae, "%.4f"); break;
        case 3: cell_pct(b, r->key_match); break;
        case 4: cell_num(b, r->val_loss, "%.4f"); break;
        case 5: cell_num(b, r->train_loss, "%.4f"); break;
        case 6: cell_long(b, r->epochs); break;
        case 7: cell_bytes(b, r->model_bytes); break;
        case 8: cell_long(b, r->parameters); break;
        case 9: html ? strbuf_xml(b, r->dataset) : md_text(b, r->dataset); break;
        case 10: html ? strbuf_xml(b, r->features) : md_text(b, r->features); break;
        case 11: cell_pct(b, r->instr_follow); break;
        case 12: cell_pct(b, r->sim_success); break;
        case 13: cell_pct(b, r->sim_adherence); break;
        }
        strbuf_puts(b, html ? "</td>" : " ");
    }
    strbuf_puts(b, html ? "</tr>\n" : "|\n");
}

char *leaderboard_markdown(const Leaderboard *lb)
{
    StrBuf b;
    strbuf_init(&b);
    int cols = lb->has_sim ? N_HEADERS : N_HEADERS - 2;
    strbuf_printf(&b, "# Leaderboard: %s\n\n", lb->runs_dir);
    strbuf_puts(&b, "Ranked by test MAE (raw units: m/s, rad/s; lower is better)");
    strbuf_puts(&b, lb->has_sim ? ", then closed-loop success" : "");
    strbuf_puts(&b, ". Val and train loss at the best epoch; dataset: folder (train/val/test episodes).\n\n");
    for (int c = 0; c < cols; c++) strbuf_printf(&b, "| %s ", HEADERS[c]);
    strbuf_puts(&b, "|\n");
    for (int c = 0; c < cols; c++) strbuf_puts(&b, c == 1 || c == 8 || c == 9 ? "|---" : "|---:");
    strbuf_puts(&b, "|\n");
    for (int i = 0; i < lb->n; i++) row_cells(&b, lb, i, 0);
    if (lb->n == 0) strbuf_puts(&b, "\n(no run folders found)\n");
    return strbuf_take(&b);
}

char *leaderboard_html(const Leaderboard *lb)
{
    StrBuf b;
    strbuf_init(&b);
    int cols = lb->has_sim ? N_HEADERS : N_HEADERS - 2;
    strbuf_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mvla leaderboard</title>\n<style>\n"
                    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
                    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),td:nth-child(9),"
                    "td:nth-child(10){text-align:left}th{background:#f3f3f3}h2{margin-top:2em}\n</style></head><body>\n");
    strbuf_puts(&b, "<h1>Leaderboard: ");
    strbuf_xml(&b, lb->runs_dir);
    strbuf_puts(&b, "</h1>\n<p>Ranked by test MAE (raw units: m/s, rad/s; lower is better)");
    strbuf_puts(&b, lb->has_sim ? ", then closed-loop success" : "");
    strbuf_puts(&b, ". Val and train loss at the best epoch; dataset: folder (train/val/test episodes).</p>\n<table>\n<tr>");
    for (int c = 0; c < cols; c++) strbuf_printf(&b, "<th>%s</th>", HEADERS[c]);
    strbuf_puts(&b, "</tr>\n");
    for (int i = 0; i < lb->n; i++) {
        strbuf_puts(&b, "<tr>");
        row_cells(&b, lb, i, 1);
    }
    strbuf_puts(&b, "</table>\n");
    for (int i = 0; i < lb->n; i++) {
        const LeaderboardRow *r = &lb->rows[i];
        strbuf_printf(&b, "<h2 id=\"run-%d\">%d. ", i + 1, i + 1);
        strbuf_xml(&b, r->dir);
        strbuf_puts(&b, "</h2>\n<p>policy ");
        strbuf_xml(&b, r->model);
        if (r->epochs >= 0) {
            strbuf_printf(&b, ", best epoch %d of %d, best val MAE ", r->best_epoch, r->epochs);
            cell_num(&b, r->val_mae, "%.4f");
        } else {
            strbuf_puts(&b, ", ");
            strbuf_xml(&b, r->features);
        }
        strbuf_puts(&b, "</p>\n");
        char *svg = run_curves_svg(&r->curves, NULL);
        if (svg) strbuf_puts(&b, svg);
        free(svg);
    }
    strbuf_puts(&b, "</body></html>\n");
    return strbuf_take(&b);
}

int leaderboard_write(const Leaderboard *lb)
{
    char path[4096];
    char *md = leaderboard_markdown(lb), *html = leaderboard_html(lb);
    int rc = md && html ? 0 : mvla_fail(MVLA_ERR_NOMEM, "leaderboard: out of memory");
    if (!rc) {
        snprintf(path, sizeof path, "%s/leaderboard.md", lb->runs_dir);
        rc = file_write_atomic(path, md, strlen(md));
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/leaderboard.html", lb->runs_dir);
        rc = file_write_atomic(path, html, strlen(html));
    }
    free(md);
    free(html);
    return rc;
}
