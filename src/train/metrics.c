/* Offline action metrics (see metrics.h). */
#include "train/metrics.h"

#include "data/actions.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const float METRICS_THRESHOLDS[METRICS_N_THRESHOLDS] = {0.05f, 0.1f, 0.2f, 0.5f};

void metrics_init(MetricsAccum *m) { memset(m, 0, sizeof *m); }

int metrics_key_of(const float a[3], float key_value)
{
    char k = action_to_key(a, ACTION_TOL);
    return action_key_index(k ? k : action_nearest_key(a, key_value));
}

void metrics_add(MetricsAccum *m, const float pred[3], const float target[3], int pred_key, int target_key)
{
    int all = 1;
    for (int j = 0; j < 3; j++) {
        double e = fabs((double)pred[j] - target[j]);
        m->abs_sum[j] += e;
        m->sq_sum[j] += e * e;
        for (int k = 0; k < METRICS_N_THRESHOLDS; k++) m->within[k][j] += e < METRICS_THRESHOLDS[k];
        int same = action_sign(pred[j], METRICS_DEAD_ZONE) == action_sign(target[j], METRICS_DEAD_ZONE);
        m->dir_axis[j] += same;
        all &= same;
    }
    m->dir_match += all;
    m->key_match += pred_key >= 0 && pred_key == target_key;
    m->n++;
}

void metrics_add_many(MetricsAccum *m, const float *pred, const float *target, const int *pred_key,
                      const int *target_key, long n)
{
    for (long i = 0; i < n; i++) {
        int pk = pred_key ? pred_key[i] : metrics_key_of(pred + 3 * i, ACTION_VALUE);
        int tk = target_key ? target_key[i] : metrics_key_of(target + 3 * i, ACTION_VALUE);
        metrics_add(m, pred + 3 * i, target + 3 * i, pk, tk);
    }
}

void metrics_merge(MetricsAccum *d, const MetricsAccum *s)
{
    d->n += s->n;
    for (int j = 0; j < 3; j++) {
        d->abs_sum[j] += s->abs_sum[j];
        d->sq_sum[j] += s->sq_sum[j];
        d->dir_axis[j] += s->dir_axis[j];
        for (int k = 0; k < METRICS_N_THRESHOLDS; k++) d->within[k][j] += s->within[k][j];
    }
    d->key_match += s->key_match;
    d->dir_match += s->dir_match;
}

void metrics_finish(const MetricsAccum *m, ActionMetrics *o)
{
    memset(o, 0, sizeof *o);
    o->n = m->n;
    double n = m->n > 0 ? (double)m->n : NAN, abs_all = 0, sq_all = 0;
    for (int j = 0; j < 3; j++) {
        o->mae_axis[j] = m->abs_sum[j] / n;
        o->rmse_axis[j] = sqrt(m->sq_sum[j] / n);
        o->direction_axis[j] = m->dir_axis[j] / n;
        for (int k = 0; k < METRICS_N_THRESHOLDS; k++) o->thr_acc[k][j] = m->within[k][j] / n;
        abs_all += m->abs_sum[j];
        sq_all += m->sq_sum[j];
    }
    o->mae = abs_all / (3 * n);
    o->rmse = sqrt(sq_all / (3 * n));
    o->perfect_match = m->key_match / n;
    o->direction_agreement = m->dir_match / n;
}

void instr_test_init(InstrTestAccum *a) { memset(a, 0, sizeof *a); }

void instr_test_add(InstrTestAccum *a, float target_y, float pred_true_y, float pred_swapped_y)
{
    int st = action_sign(target_y, METRICS_DEAD_ZONE), pt = action_sign(pred_true_y, METRICS_DEAD_ZONE),
        ps = action_sign(pred_swapped_y, METRICS_DEAD_ZONE);
    a->frames++;
    a->changed += pt != ps;
    a->abs_dy_sum += fabs((double)pred_true_y - pred_swapped_y);
    if (st != 0) {
        a->lateral++;
        a->follow_true += pt == st;
        a->follow_swapped += ps == -st;
        a->follow_both += pt == st && ps == -st;
    }
}

void instr_test_merge(InstrTestAccum *d, const InstrTestAccum *s)
{
    d->frames += s->frames;
    d->lateral += s->lateral;
    d->follow_true += s->follow_true;
    d->follow_swapped += s->follow_swapped;
    d->follow_both += s->follow_both;
    d->changed += s->changed;
    d->abs_dy_sum += s->abs_dy_sum;
}

void instr_test_finish(const InstrTestAccum *a, InstrTestResult *o)
{
    double nl = a->lateral > 0 ? (double)a->lateral : NAN, nf = a->frames > 0 ? (double)a->frames : NAN;
    o->frames = a->frames;
    o->lateral = a->lateral;
    o->follow_true = a->follow_true / nl;
    o->follow_swapped = a->follow_swapped / nl;
    o->follow_both = a->follow_both / nl;
    o->changed = a->changed / nf;
    o->mean_abs_dy = a->abs_dy_sum / nf;
}

json_t *json_real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *axes_json(const double v[3])
{
    json_t *o = json_object();
    static const char *const names[3] = {"linear_x", "linear_y", "angular_z"};
    for (int j = 0; j < 3; j++) json_object_set_new(o, names[j], json_real_or_null(v[j]));
    return o;
}

json_t *action_metrics_json(const ActionMetrics *m)
{
    json_t *o = json_object(), *thr = json_object();
    json_object_set_new(o, "samples", json_integer(m->n));
    json_object_set_new(o, "mae", json_real_or_null(m->mae));
    json_object_set_new(o, "mae_axis", axes_json(m->mae_axis));
    json_object_set_new(o, "rmse", json_real_or_null(m->rmse));
    json_object_set_new(o, "rmse_axis", axes_json(m->rmse_axis));
    for (int k = 0; k < METRICS_N_THRESHOLDS; k++) {
        char key[16];
        snprintf(key, sizeof key, "%g", METRICS_THRESHOLDS[k]);
        json_object_set_new(thr, key, axes_json(m->thr_acc[k]));
    }
    json_object_set_new(o, "threshold_accuracy", thr);
    json_object_set_new(o, "perfect_match", json_real_or_null(m->perfect_match));
    json_object_set_new(o, "direction_agreement", json_real_or_null(m->direction_agreement));
    json_object_set_new(o, "direction_agreement_axis", axes_json(m->direction_axis));
    return o;
}

json_t *instr_test_json(const InstrTestResult *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "frames", json_integer(r->frames));
    json_object_set_new(o, "lateral_frames", json_integer(r->lateral));
    json_object_set_new(o, "follow", json_real_or_null(r->follow_both));
    json_object_set_new(o, "follow_true", json_real_or_null(r->follow_true));
    json_object_set_new(o, "follow_swapped", json_real_or_null(r->follow_swapped));
    json_object_set_new(o, "changed", json_real_or_null(r->changed));
    json_object_set_new(o, "mean_abs_dy", json_real_or_null(r->mean_abs_dy));
    return o;
}
