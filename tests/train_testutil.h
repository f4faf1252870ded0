/* Helpers for the training tests (test_train.c, test_clip_policy.c): evaluating a trained checkpoint. */
#ifndef MVLA_TRAIN_TESTUTIL_H
#define MVLA_TRAIN_TESTUTIL_H

#include "train/evaluate.h"

/* eval_run of checkpoint on the test split of data (manifest; other options at their defaults) into
 * rep (eval_report_free it when this returns 0); eval_run's code. */
int tt_eval_test_split(const char *checkpoint, const char *data, const char *manifest, EvalReport *rep);
/* 1 when a report scored something: at least one episode and frame, a finite overall MAE, and every
 * frame counted in the instruction metrics. */
int tt_eval_report_sane(const EvalReport *rep);

#endif
