/* Checkpoint selection by closed-loop success in the built-in simulator (train.select "sim").
 *
 * REFERENCE: offline MAE ranks policies poorly; the best projects select by closed-loop success. For
 * data from `mvla sim generate`, the trainer scores every epoch's weights by driving the simulator's
 * scenario grid (sim/eval.h) with train.select_rollouts rollouts per scenario x side x distance cell,
 * seeded by train.select_seed (keep it apart from the seed of the final `mvla sim eval`, or the
 * selection is tuned on the test rollouts), with targets train.select_target. */
#ifndef MVLA_TRAIN_SIM_SELECT_H
#define MVLA_TRAIN_SIM_SELECT_H

#include "train/train_config.h"

/* Success rate (0..1) of the model file or checkpoint at model_path over the selection grid. */
int train_sim_success(const char *model_path, const TrainSettings *t, double *success);

#endif
