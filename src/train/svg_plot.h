/* A tiny SVG line-plot writer for training curves: axes with round-number ticks, one polyline per
 * series (non-finite points break the line), a legend. No external assets, so the output can be
 * saved as a file or inlined in an HTML page. */
#ifndef MVLA_SVG_PLOT_H
#define MVLA_SVG_PLOT_H

#include "train/strbuf.h"

typedef struct {
    const char *label;
    const double *x, *y;
    int n;
} SvgSeries;

typedef struct {
    const char *title, *xlabel, *ylabel;
    int width, height;   /* pixels; <= 0: 420 x 280 */
} SvgPlot;

/* Appends one plot as a nested <svg> element placed at (x, y) of its parent. */
void svg_plot_append(StrBuf *b, const SvgPlot *p, const SvgSeries *s, int n_series, int x, int y);

/* A standalone SVG document with n_plots plots side by side; plot i draws series[i][0..counts[i]).
 * malloc'd text, NULL when out of memory. */
char *svg_plot_row(const SvgPlot *plots, const SvgSeries *const *series, const int *counts, int n_plots);

/* Round tick positions covering [lo, hi]: about `want` ticks at 1, 2 or 5 x 10^k spacing. Writes at
 * most max ticks into out and returns how many. */
int svg_nice_ticks(double lo, double hi, int want, double *out, int max);

#endif
