/* Split manifests: which episode is train, val or test (or which of K folds), decided once at the
 * episode level, stratified, with a fixed seed, and written to a JSON file that every consumer
 * (training, evaluation) loads through split_load, which refuses a manifest that leaks (an episode in
 * two sets) or whose files changed since the split (content hash).
 *
 * Manifest (JSON):
 *   {"format": "mvla-split", "version": 1, "seed": 7, "mode": "holdout" | "kfold",
 *    "ratios": {"train": 0.7, "val": 0.2, "test": 0.1}, "folds": 0 | K,
 *    "stratify": "scenario", "hash": "sha256",
 *    "counts": {"train": 50, "val": 15, "test": 7},            (kfold: {"folds": [...], "test": n})
 *    "train": [{"file": "episode_....h5", "hash": "sha256:...", "stratum": "1box_vert_left"}, ...],
 *    "val": [...], "test": [...]}                                 (holdout)
 *    "folds": K, "fold_sets": [[...], [...], ...], "test": [...]   (kfold)
 * Holdout: every episode is in exactly one of train/val/test. K-fold: the test set (ratio "test",
 * possibly 0) is held out first; the other episodes are dealt into K folds; fold k's validation set is
 * fold_sets[k] and its training set every other fold (the test set is never trained on, in any fold).
 * Lists are sorted by file name.
 *
 * Stratification: an episode's stratum is its scenario from the file name ("1box_vert_left": boxes,
 * layout and side), else its side, else "unknown". Counts are balanced per stratum: each stratum
 * gets floor(n_s * ratio) per set, and the leftover episodes go by largest remainder (ties: the
 * stratum, then the set, in order) so that the set totals equal the largest-remainder rounding of
 * N * ratio. Within a stratum episodes are sorted by file name and shuffled with the seed. */
#ifndef MVLA_SPLIT_H
#define MVLA_SPLIT_H

#include "data/dataset.h"
#include "io/episode.h"

#include <stdint.h>

typedef struct {
    double train, val, test; /* fractions, each >= 0, summing to 1 (within 1e-6) */
    int folds;               /* 0: holdout train/val/test; K in 2..100: K folds (train/val ignored) */
    uint64_t seed;           /* <= INT64_MAX (stored as a JSON integer) */
} SplitOptions;

/* 0.7 / 0.2 / 0.1, holdout, seed 0. */
void split_options_default(SplitOptions *o);

/* One episode to split. */
typedef struct {
    const char *file;    /* file name inside the dataset directory */
    const char *hash;    /* content hash ("sha256:...") */
    const char *stratum; /* split_stratum() */
} SplitItem;

/* The stratum of an episode from its parsed file name. */
const char *split_stratum(const EpisodeName *name);

typedef struct {
    char *file, *hash, *stratum;
} SplitEntry;

typedef struct {
    SplitEntry *e;
    int n;
} SplitList;

typedef struct {
    SplitOptions opt;
    SplitList train, val, test; /* holdout; kfold uses only test */
    SplitList *fold;            /* kfold: opt.folds validation sets */
} SplitManifest;

/* Splits n items (unique file names). */
int split_make(const SplitItem *items, int n, const SplitOptions *o, SplitManifest **out);
/* Splits the usable episodes of a dataset indexed with hashes (DatasetOptions.hash = 1). */
int split_make_from_dataset(const Dataset *ds, const SplitOptions *o, SplitManifest **out);
/* Writes the manifest JSON atomically. */
int split_write(const SplitManifest *m, const char *path);
void split_manifest_free(SplitManifest *m);

/* What a consumer gets: the three sets for one fold. */
typedef struct {
    SplitList train, val, test;
    int folds;  /* 0 for a holdout manifest */
    int fold;   /* the fold chosen, -1 for holdout */
    uint64_t seed;
} SplitSets;

/* fold for consumers that need every episode whatever the manifest's kind (e.g. the frame cache):
 * a holdout manifest's sets, or fold 0 of a K-fold one (train + val + test cover every episode). */
#define SPLIT_ANY_FOLD (-2)

/* Loads a manifest and checks it against the dataset directory dir: the format, that no episode is in
 * two sets (or twice in one), that every file exists in dir and still has its recorded content hash
 * (files are hashed in parallel). fold: -1 for a holdout manifest; 0..K-1 for a K-fold one;
 * SPLIT_ANY_FOLD for either.
 * Errors: "manifest M: episode E is in both train and test", "manifest M: episode E: file changed
 * since the split (...)", "manifest M: episode E: DIR/E: cannot open: ...". */
int split_load(const char *manifest_path, const char *dir, int fold, SplitSets **out);
/* Same, without touching the dataset files (structure and overlap checks only). */
int split_load_unverified(const char *manifest_path, int fold, SplitSets **out);
void split_sets_free(SplitSets *s);

#endif
