/* Pieces of the trainer shared by trainer.c (one run) and folds.c (train_run, K folds). Not a public API. */
#ifndef MVLA_TRAINER_INTERNAL_H
#define MVLA_TRAINER_INTERNAL_H

#include "train/trainer.h"

#include <jansson.h>
#include <stddef.h>

#define TRAIN_PATH_LEN 4096

/* One training run into out_dir (fold: -1, or the fold of a K-fold manifest); cache_default is the
 * frame cache's path when the options give none. */
int train_one_run(const TrainOptions *o, const char *out_dir, int fold, const char *cache_default, TrainResult *res);

/* Small file helpers; each fails with a message naming the path. */
int train_file_exists(const char *path);
/* dir/name into buf (TRAIN_PATH_LEN bytes). */
int train_join(char *buf, const char *dir, const char *name);
/* Indented JSON + newline, atomically (fsync + rename). */
int train_write_json(const char *path, json_t *j);
/* Temp file + rename, no fsync: for files derived from others (curves.svg). */
int train_write_replace(const char *path, const char *data, size_t n);
int train_read_json(const char *path, json_t **out);

#endif
