/* Training curves (see curves.h). */
#include "train/curves.h"

#include "base/error.h"
#include "base/file.h"
#include "train/svg_plot.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_curves_free(RunCurves *c)
{
    free(c->epoch);
    free(c->train_loss);
    free(c->val_loss);
    free(c->val_mae);
    memset(c, 0, sizeof *c);
}

static double num_or_nan(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int run_curves_read(RunCurves *c, const char *metrics_path)
{
    memset(c, 0, sizeof *c);
    char *text;
    size_t size;
    int rc = file_read_all(metrics_path, &text, &size);
    if (rc) return rc;
    long lines = 1;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
    c->epoch = malloc(sizeof(double) * (size_t)lines);
    c->train_loss = malloc(sizeof(double) * (size_t)lines);
    c->val_loss = malloc(sizeof(double) * (size_t)lines);
    c->val_mae = malloc(sizeof(double) * (size_t)lines);
    if (!c->epoch || !c->train_loss || !c->val_loss || !c->val_mae) {
        free(text);
        run_curves_free(c);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", metrics_path);
    }
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        json_t *j = json_loads(line, 0, NULL);
        json_t *type = json_object_get(j, "type");
        if (json_is_string(type) && strcmp(json_string_value(type), "epoch") == 0) {
            c->epoch[c->n] = num_or_nan(j, "epoch");
            c->train_loss[c->n] = num_or_nan(j, "train_loss");
            c->val_loss[c->n] = num_or_nan(j, "val_loss");
            c->val_mae[c->n] = num_or_nan(j, "val_mae");
            c->n++;
        }
        json_decref(j);
    }
    free(text);
    return 0;
}

char *run_curves_svg(const RunCurves *c, const char *title)
{
    char t1[200], t2[200];
    snprintf(t1, sizeof t1, "%s%sloss", title ? title : "", title ? ": " : "");
    snprintf(t2, sizeof t2, "%s%svalidation MAE (raw units)", title ? title : "", title ? ": " : "");
    SvgPlot plots[2] = {{t1, "epoch", "loss", 420, 280}, {t2, "epoch", "MAE", 420, 280}};
    SvgSeries loss[2] = {{"train", c->epoch, c->train_loss, c->n}, {"val", c->epoch, c->val_loss, c->n}};
    SvgSeries mae[1] = {{"val MAE", c->epoch, c->val_mae, c->n}};
    const SvgSeries *series[2] = {loss, mae};
    int counts[2] = {2, 1};
    return svg_plot_row(plots, series, counts, 2);
}
