/* Training curves from a run's metrics.jsonl: the "epoch" lines' train loss, val loss and val MAE,
 * drawn as one SVG (loss panel + MAE panel) for curves.svg and the leaderboard page. */
#ifndef MVLA_CURVES_H
#define MVLA_CURVES_H

typedef struct {
    int n;
    double *epoch, *train_loss, *val_loss, *val_mae; /* n each; NaN where a line lacks the value */
} RunCurves;

/* Reads the epoch lines of a metrics.jsonl (lines that are not valid JSON are skipped, so a
 * half-written last line does no harm). A missing file is an error. */
int run_curves_read(RunCurves *c, const char *metrics_path);
void run_curves_free(RunCurves *c);
/* Standalone SVG text (malloc'd), NULL when out of memory. title may be NULL. */
char *run_curves_svg(const RunCurves *c, const char *title);

#endif
