/* The leaderboard: every run folder directly under RUNS_DIR (config.json + metrics.jsonl, written by
 * `mvla train`; or config.json + an "mvla-ensemble" run.json, written by `mvla ensemble`) becomes a row, ranked by test MAE (eval.json from `mvla eval --json`, split "test"),
 * then by closed-loop success (sim_eval.json from `mvla sim eval`, "overall.success_rate"), then by the
 * best validation MAE, then by name; runs without a test MAE come after those with one.
 *
 * Columns: rank, model (the run folder), test MAE, val loss and train loss (at the best epoch), epochs
 * trained, size (fp32 bytes of the model), parameters, dataset (folder and episode counts), features
 * (input size, fusion, head, window, chunk, loss, augmentation), instruction following (the eval's
 * instruction test), and closed-loop success when any run has it.
 * Written as Markdown (leaderboard.md) and as a self-contained HTML page (leaderboard.html) with each
 * run's training curves as inline SVG. */
#ifndef MVLA_LEADERBOARD_H
#define MVLA_LEADERBOARD_H

#include "train/curves.h"

typedef struct {
    char *dir;            /* the run folder's name */
    char *model;          /* the policy's name */
    double test_mae, key_match, instr_follow; /* NaN when eval.json is absent (or not on "test") */
    double val_loss, train_loss, val_mae;    /* at the best epoch (NaN if unknown) */
    int epochs, best_epoch;                  /* epochs -1: no curves (an ensemble) */
    long parameters, model_bytes;            /* -1 if unknown */
    char *dataset, *features;
    double sim_success, sim_adherence;       /* NaN when sim_eval.json is absent */
    RunCurves curves;
} LeaderboardRow;

typedef struct {
    char *runs_dir;
    LeaderboardRow *rows; /* ranked */
    int n;
    int has_sim;          /* some row has a closed-loop success */
} Leaderboard;

/* Scans runs_dir; folders that are not runs are skipped. A run whose files are malformed is an error
 * naming the file. */
int leaderboard_scan(Leaderboard *lb, const char *runs_dir);
void leaderboard_free(Leaderboard *lb);
/* malloc'd texts (NULL when out of memory). */
char *leaderboard_markdown(const Leaderboard *lb);
char *leaderboard_html(const Leaderboard *lb);
/* Writes runs_dir/leaderboard.md and runs_dir/leaderboard.html atomically. */
int leaderboard_write(const Leaderboard *lb);

/* "1.2 MiB", "340 KiB", "512 B". */
void leaderboard_human_bytes(double bytes, char *buf, int n);

#endif
