/* SVG line plots (see svg_plot.h). */
#include "train/svg_plot.h"

#include <math.h>
#include <stdlib.h>

static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
#define N_PALETTE (int)(sizeof PALETTE / sizeof PALETTE[0])

int svg_nice_ticks(double lo, double hi, int want, double *out, int max)
{
    if (!(hi > lo) || want < 1 || max < 1) return 0;
    double raw = (hi - lo) / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    int n = 0;
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && n < max; v += step)
        out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

/* The data range over every finite point, padded a little; [0, 1] when there is none. */
static void data_range(const SvgSeries *s, int ns, int use_y, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double v = use_y ? s[k].y[i] : s[k].x[i], o = use_y ? s[k].x[i] : s[k].y[i];
            if (!isfinite(v) || !isfinite(o)) continue;
            a = fmin(a, v), b = fmax(b, v);
        }
    if (!isfinite(a)) a = 0, b = 1;
    if (b - a < 1e-12) {
        double d = fabs(a) > 1e-12 ? fabs(a) * 0.1 : 1;
        a -= d, b += d;
    } else if (use_y) {
        double pad = (b - a) * 0.05;
        a -= pad, b += pad;
    }
    *lo = a, *hi = b;
}

void svg_plot_append(StrBuf *b, const SvgPlot *p, const SvgSeries *s, int ns, int x, int y)
{
    int W = p->width > 0 ? p->width : 420, H = p->height > 0 ? p->height : 280;
    double L = 62, R = 12, T = 28, B = 44; /* margins */
    double pw = W - L - R, ph = H - T - B;
    double x0, x1, y0, y1;
    data_range(s, ns, 0, &x0, &x1);
    data_range(s, ns, 1, &y0, &y1);
    strbuf_printf(b, "<svg x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                     "font-family=\"sans-serif\" font-size=\"11\">\n", x, y, W, H, W, H);
    strbuf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    if (p->title) {
        strbuf_printf(b, "<text x=\"%g\" y=\"17\" text-anchor=\"middle\" font-size=\"13\">", L + pw / 2);
        strbuf_xml(b, p->title);
        strbuf_puts(b, "</text>\n");
    }
    strbuf_printf(b, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
    double ticks[32];
    int nt = svg_nice_ticks(x0, x1, 6, ticks, 32);
    for (int i = 0; i < nt; i++) {
        double px = L + (ticks[i] - x0) / (x1 - x0) * pw;
        strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>"
                         "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n",
                      px, T, px, T + ph, px, T + ph + 14, ticks[i]);
    }
    nt = svg_nice_ticks(y0, y1, 5, ticks, 32);
    for (int i = 0; i < nt; i++) {
        double py = T + ph - (ticks[i] - y0) / (y1 - y0) * ph;
        strbuf_printf(b, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                         "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                      L, py, L + pw, py, L - 4, py + 4, ticks[i]);
    }
    if (p->xlabel) {
        strbuf_printf(b, "<text x=\"%g\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2, H - 6);
        strbuf_xml(b, p->xlabel);
        strbuf_puts(b, "</text>\n");
    }
    if (p->ylabel) {
        strbuf_printf(b, "<text transform=\"translate(13 %g) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
        strbuf_xml(b, p->ylabel);
        strbuf_puts(b, "</text>\n");
    }
    int any = 0;
    for (int k = 0; k < ns; k++) {
        const char *col = PALETTE[k % N_PALETTE];
        int open = 0, pts = 0;
        double lx = 0, ly = 0;
        for (int i = 0; i < s[k].n; i++) {
            double vx = s[k].x[i], vy = s[k].y[i];
            if (!isfinite(vx) || !isfinite(vy)) {
                if (open) strbuf_puts(b, "\"/>\n");
                open = 0;
                continue;
            }
            lx = L + (vx - x0) / (x1 - x0) * pw, ly = T + ph - (vy - y0) / (y1 - y0) * ph;
            if (!open) strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", col);
            strbuf_printf(b, "%s%.1f,%.1f", open ? " " : "", lx, ly);
            open = 1, pts++;
        }
        if (open) strbuf_puts(b, "\"/>\n");
        if (pts == 1) strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", lx, ly, col);
        any |= pts > 0;
        if (s[k].label) { /* legend, top right, one row per series */
            double ly2 = T + 14 + 14 * k;
            strbuf_printf(b, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>"
                             "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">",
                          L + pw - 26, ly2 - 4, L + pw - 8, ly2 - 4, col, L + pw - 30, ly2);
            strbuf_xml(b, s[k].label);
            strbuf_puts(b, "</text>\n");
        }
    }
    if (!any)
        strbuf_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n", L + pw / 2,
                      T + ph / 2);
    strbuf_puts(b, "</svg>\n");
}

char *svg_plot_row(const SvgPlot *plots, const SvgSeries *const *series, const int *counts, int n_plots)
{
    int W = 0, H = 0;
    for (int i = 0; i < n_plots; i++) {
        W += plots[i].width > 0 ? plots[i].width : 420;
        int h = plots[i].height > 0 ? plots[i].height : 280;
        if (h > H) H = h;
    }
    StrBuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
                  W, H, W, H);
    int x = 0;
    for (int i = 0; i < n_plots; i++) {
        svg_plot_append(&b, &plots[i], series[i], counts[i], x, 0);
        x += plots[i].width > 0 ? plots[i].width : 420;
    }
    strbuf_puts(&b, "</svg>\n");
    return strbuf_take(&b);
}
