/* The leaderboard over fake run folders, the training-curve reader and the SVG plot writer. */
#include "test.h"

#include "base/error.h"
#include "base/file.h"
#include "train/curves.h"
#include "train/leaderboard.h"
#include "train/svg_plot.h"
#include "train/train_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int put(const char *dir, const char *name, const char *text)
{
    char path[2100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_write_atomic(path, text, strlen(text));
}

/* A run folder with a tiny config, three epochs whose val MAE is lowest at epoch `best`, and optional
 * eval.json (test MAE) and sim_eval.json (success rate). */
static int fake_run(const char *runs, const char *name, int best, double test_mae, double success)
{
    char dir[1024], text[2048];
    snprintf(dir, sizeof dir, "%s/%s", runs, name);
    mkdir(dir, 0755);
    TrainConfig c;
    if (train_config_preset(&c, "tiny")) return -1;
    snprintf(c.policy.name, sizeof c.policy.name, "%s-policy", name);
    char *cfg = train_config_to_json(&c);
    int rc = put(dir, "config.json", cfg);
    free(cfg);
    if (rc) return rc;
    text[0] = 0;
    for (int e = 1; e <= 3; e++) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l,
                 "{\"type\":\"step\",\"epoch\":%d,\"step\":%d,\"loss\":0.5}\n"
                 "{\"type\":\"epoch\",\"epoch\":%d,\"step\":%d,\"train_loss\":%g,\"val_loss\":%g,\"val_mae\":%g}\n",
                 e, 10 * e, e, 10 * e, 1.0 / e, 2.0 / e + (e == best ? 0 : 0.5), e == best ? 0.1 : 0.3 + e);
    }
    strcat(text, "{\"type\":\"epoch\",\"epo"); /* a half-written last line (killed run) is ignored */
    if ((rc = put(dir, "metrics.jsonl", text))) return rc;
    snprintf(text, sizeof text, "{\"data_dir\": \"/data/sim_%s\", \"episodes\": {\"train\": 50, \"val\": 15, \"test\": 7},"
                                " \"parameters\": 12345, \"model_bytes\": 2097152, \"features\": \"32x16 film lstm\"}", name);
    if ((rc = put(dir, "run.json", text))) return rc;
    if (test_mae >= 0) {
        snprintf(text, sizeof text, "{\"split\": \"test\", \"overall\": {\"mae\": %g, \"perfect_match\": 0.8}, "
                 "\"instruction_test\": {\"follow\": 0.9}}", test_mae);
        if ((rc = put(dir, "eval.json", text))) return rc;
    }
    if (success >= 0) {
        snprintf(text, sizeof text, "{\"overall\": {\"success_rate\": %g, \"adherence\": 0.75}}", success);
        if ((rc = put(dir, "sim_eval.json", text))) return rc;
    }
    return 0;
}

TEST(leaderboard_ranks_runs_and_writes_both_files)
{
    char runs[512];
    snprintf(runs, sizeof runs, "%s/runs", test_tmpdir());
    mkdir(runs, 0755);
    REQUIRE(fake_run(runs, "beta", 2, 0.30, 0.5) == 0);
    REQUIRE(fake_run(runs, "alpha", 3, 0.20, -1) == 0);
    REQUIRE(fake_run(runs, "gamma", 1, -1, 0.9) == 0);  /* no test MAE: ranked after the others */
    REQUIRE(fake_run(runs, "delta", 1, 0.20, 0.7) == 0); /* ties alpha on MAE, wins on success */
    char other[600];
    snprintf(other, sizeof other, "%s/not_a_run", runs);
    mkdir(other, 0755);
    Leaderboard lb;
    REQUIRE(leaderboard_scan(&lb, runs) == 0);
    REQUIRE(lb.n == 4);
    CHECK(!strcmp(lb.rows[0].dir, "delta") && !strcmp(lb.rows[1].dir, "alpha") && !strcmp(lb.rows[2].dir, "beta") &&
          !strcmp(lb.rows[3].dir, "gamma"));
    CHECK(lb.has_sim);
    const LeaderboardRow *beta = &lb.rows[2];
    CHECK(beta->epochs == 3 && beta->best_epoch == 2);
    CHECK_NEAR(beta->val_mae, 0.1, 1e-12);
    CHECK_NEAR(beta->val_loss, 1.0, 1e-12);   /* 2/2 at the best epoch */
    CHECK_NEAR(beta->train_loss, 0.5, 1e-12); /* 1/2 */
    CHECK_NEAR(beta->test_mae, 0.3, 1e-12);
    CHECK_NEAR(beta->sim_success, 0.5, 1e-12);
    CHECK(beta->parameters == 12345 && beta->model_bytes == 2097152);
    CHECK(!strcmp(beta->model, "beta-policy") && strstr(beta->dataset, "sim_beta (50/15/7)"));
    CHECK(isnan(lb.rows[3].test_mae));

    REQUIRE(leaderboard_write(&lb) == 0);
    char path[700], *md, *html;
    size_t n;
    snprintf(path, sizeof path, "%s/leaderboard.md", runs);
    REQUIRE(file_read_all(path, &md, &n) == 0);
    snprintf(path, sizeof path, "%s/leaderboard.html", runs);
    REQUIRE(file_read_all(path, &html, &n) == 0);
    CHECK(strstr(md, "| rank | model | test MAE |") && strstr(md, "closed-loop success"));
    CHECK(strstr(md, "| 1 | delta | 0.2000 |") &&
          strstr(md, "| 3 | beta | 0.3000 | 80.0% | 1.0000 | 0.5000 | 3 | 2.0 MiB | 12345 |"));
    CHECK(strstr(md, "| 90.0% | 50.0% | 75.0% |")); /* beta: follow, closed-loop success, adherence */
    CHECK(strstr(md, "| 4 | gamma | - |"));
    char *p1 = strstr(md, "| 1 | delta"), *p2 = strstr(md, "| 2 | alpha");
    CHECK(p1 && p2 && p1 < p2);
    CHECK(strstr(html, "<table>") && strstr(html, "<svg") && strstr(html, "<polyline"));
    CHECK(strstr(html, "id=\"run-4\""));
    /* self-contained: no scripts, stylesheets or images from elsewhere */
    CHECK(!strstr(html, "<script") && !strstr(html, "<link") && !strstr(html, "src=") && !strstr(html, "<img"));
    free(md);
    free(html);
    leaderboard_free(&lb);

    /* without any closed-loop result the column is left out */
    char runs2[600];
    snprintf(runs2, sizeof runs2, "%s/runs2", test_tmpdir());
    mkdir(runs2, 0755);
    REQUIRE(fake_run(runs2, "solo", 1, 0.4, -1) == 0);
    REQUIRE(leaderboard_scan(&lb, runs2) == 0);
    char *text = leaderboard_markdown(&lb);
    CHECK(text && !strstr(text, "closed-loop") && !strstr(text, "adherence") && strstr(text, "| 1 | solo | 0.4000 |"));
    free(text);
    leaderboard_free(&lb);

    /* a malformed eval.json is an error naming the file */
    snprintf(path, sizeof path, "%s/solo", runs2);
    REQUIRE(put(path, "eval.json", "{\"split\": ") == 0);
    CHECK(leaderboard_scan(&lb, runs2) == MVLA_ERR_FORMAT && strstr(mvla_error_message(), "solo/eval.json"));
    CHECK(leaderboard_scan(&lb, "/nonexistent/runs") == MVLA_ERR_IO);
}

TEST(curves_read_epoch_lines_and_plot)
{
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", test_tmpdir());
    const char *text = "{\"type\":\"step\",\"step\":1,\"loss\":3}\n"
                       "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.8,\"val_loss\":0.9,\"val_mae\":0.5}\n"
                       "not json\n"
                       "{\"type\":\"epoch\",\"epoch\":2,\"train_loss\":0.4,\"val_loss\":null,\"val_mae\":0.25}\n";
    REQUIRE(file_write_atomic(path, text, strlen(text)) == 0);
    RunCurves c;
    REQUIRE(run_curves_read(&c, path) == 0);
    CHECK(c.n == 2);
    CHECK_NEAR(c.epoch[1], 2, 0);
    CHECK_NEAR(c.train_loss[1], 0.4, 1e-12);
    CHECK(isnan(c.val_loss[1]));
    char *svg = run_curves_svg(&c, "a <b> & c");
    REQUIRE(svg);
    CHECK(strncmp(svg, "<svg xmlns=", 11) == 0);
    CHECK(strstr(svg, "a &lt;b&gt; &amp; c") && !strstr(svg, "<b>"));
    /* val loss has one finite point: drawn as a dot, not a line */
    CHECK(strstr(svg, "<circle"));
    free(svg);
    run_curves_free(&c);
    snprintf(path, sizeof path, "%s/missing.jsonl", test_tmpdir());
    CHECK(run_curves_read(&c, path) == MVLA_ERR_IO);
}

TEST(svg_plot_ticks_and_broken_lines)
{
    double t[32];
    int n = svg_nice_ticks(0, 1, 5, t, 32);
    CHECK(n == 6);
    CHECK_NEAR(t[0], 0, 1e-12);
    CHECK_NEAR(t[5], 1.0, 1e-9);
    n = svg_nice_ticks(0.013, 0.087, 4, t, 32); /* step 0.02: 0.02 .. 0.08 */
    CHECK(n == 4);
    CHECK_NEAR(t[0], 0.02, 1e-12);
    CHECK(svg_nice_ticks(1, 1, 5, t, 32) == 0);
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 2, NAN, 4, 5};
    SvgSeries s = {"loss", x, y, 5};
    SvgPlot p = {"t", "epoch", "loss", 300, 200};
    const SvgSeries *series[1] = {&s};
    int counts[1] = {1};
    char *svg = svg_plot_row(&p, series, counts, 1);
    REQUIRE(svg);
    int lines = 0;
    for (const char *q = svg; (q = strstr(q, "<polyline")); q++) lines++;
    CHECK(lines == 2); /* the NaN splits the line */
    CHECK(strstr(svg, "width=\"300\""));
    free(svg);
    SvgSeries empty = {"none", x, y, 0};
    series[0] = &empty;
    svg = svg_plot_row(&p, series, counts, 1);
    CHECK(svg && strstr(svg, "no data"));
    free(svg);
}
