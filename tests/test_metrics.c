/* Offline action metrics against values worked out by hand (comments give the arithmetic). */
#include "test.h"

#include "data/actions.h"
#include "train/metrics.h"

#include <string.h>

/* Four samples (raw units):
 *   target w (1.15, 0, 0)     pred (1.12, 0.03, 0)    |err| (0.03, 0.03, 0)
 *   target a (0, 1.15, 0)     pred (0.18, 0.9, 0.12)  |err| (0.18, 0.25, 0.12)
 *   target space (0, 0, 0)    pred (0.4, -0.3, 0)     |err| (0.4, 0.3, 0)
 *   target d (0, -1.15, 0)    pred (0, 0.5, 0)        |err| (0, 1.65, 0) */
static const float TARGET[12] = {1.15f, 0, 0, 0, 1.15f, 0, 0, 0, 0, 0, -1.15f, 0};
static const float PRED[12] = {1.12f, 0.03f, 0, 0.18f, 0.9f, 0.12f, 0.4f, -0.3f, 0, 0, 0.5f, 0};

TEST(metrics_match_hand_computed_values)
{
    MetricsAccum acc;
    metrics_init(&acc);
    metrics_add_many(&acc, PRED, TARGET, NULL, NULL, 4);
    ActionMetrics m;
    metrics_finish(&acc, &m);
    CHECK(m.n == 4);
    /* MAE per axis: x (0.03+0.18+0.4+0)/4, y (0.03+0.25+0.3+1.65)/4, z 0.12/4; overall 2.96/12 */
    CHECK_NEAR(m.mae_axis[0], 0.1525, 1e-6);
    CHECK_NEAR(m.mae_axis[1], 0.5575, 1e-6);
    CHECK_NEAR(m.mae_axis[2], 0.03, 1e-6);
    CHECK_NEAR(m.mae, 2.96 / 12, 1e-6);
    /* RMSE: x sqrt(0.1933/4), y sqrt(2.8759/4), z sqrt(0.0144/4) = 0.06, overall sqrt(3.0836/12) */
    CHECK_NEAR(m.rmse_axis[0], 0.2198295, 1e-6);
    CHECK_NEAR(m.rmse_axis[1], 0.8479239, 1e-6);
    CHECK_NEAR(m.rmse_axis[2], 0.06, 1e-6);
    CHECK_NEAR(m.rmse, 0.5069188, 1e-6);
    /* threshold accuracy (|err| < t), per axis, t = 0.05, 0.1, 0.2, 0.5:
     *   x errors 0.03 0.18 0.4 0    -> 2, 2, 3, 4 of 4
     *   y errors 0.03 0.25 0.3 1.65 -> 1, 1, 1, 3
     *   z errors 0 0.12 0 0         -> 3, 3, 4, 4 */
    const double want[4][3] = {{0.5, 0.25, 0.75}, {0.5, 0.25, 0.75}, {0.75, 0.25, 1}, {1, 0.75, 1}};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++) CHECK_NEAR(m.thr_acc[k][j], want[k][j], 1e-12);
    /* keys: pred 0 is w within tolerance; pred 1 nearest a (distance^2 0.1093 vs q's 1.0178); pred 2 nearest
     * space (0.25 vs w's 0.6525); pred 3 nearest space, target d: 3 of 4 match */
    CHECK_NEAR(m.perfect_match, 0.75, 1e-12);
    /* direction signs (dead zone 0.15): pred (+,0,0) (+,+,0) (+,-,0) (0,+,0) vs target (+,0,0) (0,+,0) (0,0,0)
     * (0,-,0): only sample 0 agrees on every axis; x agrees on 0 and 3, y on 0 and 1, z everywhere */
    CHECK_NEAR(m.direction_agreement, 0.25, 1e-12);
    CHECK_NEAR(m.direction_axis[0], 0.5, 1e-12);
    CHECK_NEAR(m.direction_axis[1], 0.5, 1e-12);
    CHECK_NEAR(m.direction_axis[2], 1.0, 1e-12);

    /* explicit keys override the nearest-key rule */
    MetricsAccum k;
    metrics_init(&k);
    int pk[4] = {0, 1, 2, -1}, tk[4] = {0, 1, 3, -1};
    metrics_add_many(&k, PRED, TARGET, pk, tk, 4);
    metrics_finish(&k, &m);
    CHECK_NEAR(m.perfect_match, 0.5, 1e-12); /* -1 never matches */

    /* merging two halves gives the same sums */
    MetricsAccum a, b;
    metrics_init(&a);
    metrics_init(&b);
    metrics_add_many(&a, PRED, TARGET, NULL, NULL, 1);
    metrics_add_many(&b, PRED + 3, TARGET + 3, NULL, NULL, 3);
    metrics_merge(&a, &b);
    CHECK(a.n == acc.n && a.key_match == acc.key_match && a.dir_match == acc.dir_match);
    for (int j = 0; j < 3; j++) CHECK_NEAR(a.abs_sum[j], acc.abs_sum[j], 1e-12);

    /* no samples: NaN, written as null */
    MetricsAccum e;
    metrics_init(&e);
    metrics_finish(&e, &m);
    CHECK(m.n == 0 && isnan(m.mae) && isnan(m.rmse) && isnan(m.perfect_match));
    json_t *j = action_metrics_json(&m);
    CHECK(json_is_null(json_object_get(j, "mae")) && json_integer_value(json_object_get(j, "samples")) == 0);
    json_decref(j);
    metrics_finish(&acc, &m);
    j = action_metrics_json(&m);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(j, "mae_axis"), "linear_y")), 0.5575, 1e-6);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(json_object_get(j, "threshold_accuracy"), "0.2"),
                                                 "linear_x")), 0.75, 1e-12);
    json_decref(j);
}

TEST(metrics_key_of_snaps_to_the_vocabulary)
{
    const float w[3] = {1.15f, 0, 0}, legacy_a[3] = {0, 0.5f, 0}, near_e[3] = {0.9f, -1.0f, 0.1f}, zero[3] = {0, 0, 0};
    CHECK(metrics_key_of(w, ACTION_VALUE) == action_key_index('w'));
    CHECK(metrics_key_of(legacy_a, ACTION_VALUE) == action_key_index('a'));
    CHECK(metrics_key_of(near_e, ACTION_VALUE) == action_key_index('e'));
    CHECK(metrics_key_of(zero, ACTION_VALUE) == action_key_index(' '));
}

/* Frames (target y, y with the true instruction, y with the swapped one):
 *   (1.15, 1.0, -1.0)   slides: follows both ways; changed; |dy| 2
 *   (-1.15, -0.5, 0.1)  slides: follows the true one only (0.1 is in the dead zone); changed; |dy| 0.6
 *   (0, 0, 0.5)         no slide; changed; |dy| 0.5
 *   (1.15, 0.3, 0.4)    slides: true yes, swapped no; unchanged; |dy| 0.1 */
TEST(instruction_test_matches_hand_computed_values)
{
    InstrTestAccum a;
    instr_test_init(&a);
    instr_test_add(&a, 1.15f, 1.0f, -1.0f);
    instr_test_add(&a, -1.15f, -0.5f, 0.1f);
    instr_test_add(&a, 0.0f, 0.0f, 0.5f);
    instr_test_add(&a, 1.15f, 0.3f, 0.4f);
    InstrTestResult r;
    instr_test_finish(&a, &r);
    CHECK(r.frames == 4 && r.lateral == 3);
    CHECK_NEAR(r.follow_true, 1.0, 1e-12);
    CHECK_NEAR(r.follow_swapped, 1.0 / 3, 1e-12);
    CHECK_NEAR(r.follow_both, 1.0 / 3, 1e-12);
    CHECK_NEAR(r.changed, 0.75, 1e-12);
    CHECK_NEAR(r.mean_abs_dy, 0.8, 1e-6);
    InstrTestAccum b, c;
    instr_test_init(&b);
    instr_test_init(&c);
    instr_test_add(&b, 1.15f, 1.0f, -1.0f);
    instr_test_add(&c, -1.15f, -0.5f, 0.1f);
    instr_test_merge(&b, &c);
    CHECK(b.frames == 2 && b.lateral == 2 && b.follow_both == 1 && b.follow_true == 2);
    InstrTestAccum z;
    instr_test_init(&z);
    instr_test_finish(&z, &r);
    CHECK(isnan(r.follow_both) && isnan(r.changed));
    json_t *j = instr_test_json(&r);
    CHECK(json_is_null(json_object_get(j, "follow")));
    json_decref(j);
}
