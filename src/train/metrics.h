/* Offline action metrics, always in raw units (m/s, rad/s), from predicted and target actions
 * [linear_x, linear_y, angular_z] and their teleop key classes:
 *   MAE and RMSE, overall (mean over the 3 axes and the samples) and per axis;
 *   threshold accuracy: per axis, the share of samples with |pred - target| < 0.05, 0.1, 0.2, 0.5;
 *   perfect match (PM): the share of samples whose predicted key equals the target key;
 *   direction agreement (DA): the share whose per-axis signs (dead zone METRICS_DEAD_ZONE, the
 *   runtime's) all agree, and the same per axis.
 * Sums are accumulated (MetricsAccum) so groups (per scenario, per side) can be filled in one pass
 * and merged.
 *
 * The instruction test (InstrTestAccum): every frame is predicted twice, with the episode's
 * instruction and with left/right swapped in it. The lateral direction is the sign of linear_y (the
 * sideways slide) with the same dead zone. Counted:
 *   lateral frames   frames whose target slides (sign of target y != 0)
 *   follow_true      ... where the prediction with the true instruction slides the target's way
 *   follow_swapped   ... where the prediction with the swapped instruction slides the other way
 *   follow_both      ... both at once: the predicted lateral direction follows the instruction
 *   changed          all frames where the predicted lateral sign differs between the two instructions
 *   mean |dy|        mean |y(true) - y(swapped)| over all frames (0: the instruction is ignored) */
#ifndef MVLA_METRICS_H
#define MVLA_METRICS_H

#include <jansson.h>

#define METRICS_N_THRESHOLDS 4
#define METRICS_DEAD_ZONE 0.15f
extern const float METRICS_THRESHOLDS[METRICS_N_THRESHOLDS]; /* 0.05, 0.1, 0.2, 0.5 */

typedef struct {
    long n;
    double abs_sum[3], sq_sum[3];
    long within[METRICS_N_THRESHOLDS][3];
    long key_match, dir_match, dir_axis[3];
} MetricsAccum;

typedef struct {
    long n;                                  /* samples; every value below is NaN when n = 0 */
    double mae, mae_axis[3];
    double rmse, rmse_axis[3];
    double thr_acc[METRICS_N_THRESHOLDS][3]; /* share with |error| < threshold, per axis */
    double perfect_match;
    double direction_agreement, direction_axis[3];
} ActionMetrics;

void metrics_init(MetricsAccum *m);
/* One sample: pred[3], target[3] raw; keys are indices into ACTION_KEYS (-1: none, never matches). */
void metrics_add(MetricsAccum *m, const float pred[3], const float target[3], int pred_key, int target_key);
/* n samples [n, 3]; keys may be NULL (then metrics_key_of at ACTION_VALUE is used). */
void metrics_add_many(MetricsAccum *m, const float *pred, const float *target, const int *pred_key,
                      const int *target_key, long n);
void metrics_merge(MetricsAccum *dst, const MetricsAccum *src);
void metrics_finish(const MetricsAccum *m, ActionMetrics *out);

/* The teleop key (index into ACTION_KEYS) of a raw action: the key it equals within ACTION_TOL at 1.15
 * or the legacy 0.5, else the nearest key action at key_value (Euclidean). */
int metrics_key_of(const float a[3], float key_value);

typedef struct {
    long frames, lateral, follow_true, follow_swapped, follow_both, changed;
    double abs_dy_sum;
} InstrTestAccum;

typedef struct {
    long frames, lateral;
    double follow_true, follow_swapped, follow_both; /* shares of the lateral frames (NaN if none) */
    double changed, mean_abs_dy;                     /* over all frames (NaN if none) */
} InstrTestResult;

void instr_test_init(InstrTestAccum *a);
/* One frame: the target's linear_y and the predicted linear_y with the true and the swapped instruction. */
void instr_test_add(InstrTestAccum *a, float target_y, float pred_true_y, float pred_swapped_y);
void instr_test_merge(InstrTestAccum *dst, const InstrTestAccum *src);
void instr_test_finish(const InstrTestAccum *a, InstrTestResult *out);

/* JSON objects (NaN written as null). */
json_t *action_metrics_json(const ActionMetrics *m);
json_t *instr_test_json(const InstrTestResult *r);
/* A JSON number, or null when v is not finite. */
json_t *json_real_or_null(double v);

#endif
