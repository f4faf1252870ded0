/* The metadata the trainer stores in its checkpoints ("mvla.metadata", nn/checkpoint.h), which makes a
 * model file self-sufficient and lets evaluation detect leakage:
 *
 *   {"policy": {...},                                the policy config (models/policy_config.h)
 *    "preprocess": {"width", "height", "crop", "filter", "channels": "RGB"},   how frames were prepared
 *    "data": {"lang", "instructions", "instruction", "skip_start"},           instruction resolution
 *    "provenance": {"dataset", "manifest", "manifest_hash", "fold", "split_seed",
 *                   "train_digest", "train_episodes": ["sha256:...", ...]},  what it was trained on
 *    "trainer": {...}}                               training state (trainer.c; only for --resume)
 *
 * train_episodes lists the content hashes of every training episode (sorted; for a run started from a
 * checkpoint with train.init, that checkpoint's train_episodes too: its weights carry them), train_digest is the
 * SHA-256 of that list (one hash per line), so `mvla eval` refuses to score a model on an episode
 * it was trained on, whatever the manifest says. */
#ifndef MVLA_MODEL_META_H
#define MVLA_MODEL_META_H

#include "base/hash.h"
#include "data/preprocess.h"
#include "models/policy.h"
#include "train/train_config.h"

#include <jansson.h>

typedef struct {
    Preprocess pre;
    char lang[8];
    char *instructions;     /* mapping file, NULL if none */
    char *instruction;      /* override text, NULL if none */
    int skip_start;
    int has_provenance;     /* 0: the file has no "provenance" (e.g. not written by the trainer) */
    char *dataset, *manifest;
    char manifest_hash[HASH_TEXT_MAX];
    char train_digest[HASH_TEXT_MAX];
    int fold;
    char **train_hashes;    /* sorted */
    int n_train;
    int epoch;              /* the trainer's epoch count at save time, -1 if unknown */
} ModelMeta;

/* Reads the metadata of a checkpoint for a policy with config c (for the preprocessing check). */
int model_meta_read(ModelMeta *m, const char *path, const StudentConfig *c);
/* Parses a metadata text (source labels errors). */
int model_meta_parse(ModelMeta *m, const char *metadata_json, const StudentConfig *c, const char *source);
void model_meta_free(ModelMeta *m);
/* 1 if the content hash is one of the training episodes'. */
int model_meta_trained_on(const ModelMeta *m, const char *hash);

/* provenance.train_episodes := its hashes plus those of the array `more`, each once, sorted, and
 * train_digest recomputed (a run started from a checkpoint carries that checkpoint's episodes too).
 * source names the file in errors. */
int model_meta_add_train_episodes(json_t *provenance, json_t *more, const char *source);
/* SHA-256 ("sha256:<hex>") of the hashes sorted, one per line. Sorts hashes in place. */
void model_meta_digest(char **hashes, int n, char out[HASH_TEXT_MAX]);

/* The metadata text (malloc'd) for policy p trained with config c; provenance and trainer may be NULL
 * (borrowed, not stolen). NULL when out of memory. */
char *model_meta_build(const StudentPolicy *p, const TrainConfig *c, json_t *provenance, json_t *trainer);
/* Adds the keys every trained model's metadata shares ("preprocess", "data", and provenance / trainer when
 * not NULL) to root, for other model families (the CLIP heads' "clip_policy"). */
void model_meta_add_common(json_t *root, const TrainConfig *c, json_t *provenance, json_t *trainer);

#endif
