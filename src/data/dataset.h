/* A dataset: the index of a folder (or list) of episode files. Each entry has the path, whether the
 * episode opened, a copy of its EpisodeInfo (metadata, actions, events; never frames), what its
 * file name says (scenario, side, distance, ...), the resolved instruction and, on request, a
 * content hash of the file's bytes.
 *
 * Instruction resolution, first that applies wins:
 *   1. options.instruction        (the CLI's --instruction TEXT)
 *   2. the file's language_instruction dataset
 *   3. options.mapping_path       a JSON object {"KEY": "text"}; KEY tried in this order: the
 *                                 episode's file stem, its target + side ("basket_left", "cup_left"),
 *                                 its scenario ("1box_vert_left"), its side ("left"), "default"
 *   4. the built-in default for the side and target in options.lang ("en" default, or "ko"):
 *      episode_default_instruction_for(). */
#ifndef MVLA_DATASET_H
#define MVLA_DATASET_H

#include "base/hash.h"
#include "io/episode.h"

typedef enum {
    INSTRUCTION_OVERRIDE,  /* options.instruction */
    INSTRUCTION_FILE,      /* the file's language_instruction */
    INSTRUCTION_MAPPING,   /* options.mapping_path */
    INSTRUCTION_DEFAULT    /* built-in per side */
} InstructionSource;

/* Called after each file is indexed (from the indexing thread). */
typedef void (*DatasetProgressFn)(void *ctx, int done, int total);

typedef struct {
    const char *lang;          /* "en" (NULL = "en") or "ko" */
    const char *mapping_path;  /* JSON instruction mapping, or NULL */
    const char *instruction;   /* overrides every episode's instruction, or NULL */
    int hash;                  /* 1: compute each file's content hash (reads every byte; parallel) */
    int isolate;               /* 1: episode_probe each file first, so a file that crashes libhdf5 is
                                  an unusable entry, not a crash (one fork per file) */
    DatasetProgressFn progress;
    void *progress_ctx;
} DatasetOptions;

typedef struct {
    char *path;                /* as given or dir/file */
    char *file;                /* base name */
    int usable;                /* episode_open succeeded */
    char *error;               /* episode_open's message when !usable, else NULL */
    EpisodeInfo info;          /* copy of the episode's info when usable (info.name is always parsed) */
    char *instruction;         /* resolved instruction when usable, else NULL */
    InstructionSource instruction_source;
    char hash[HASH_TEXT_MAX];  /* "sha256:<hex>" of the file bytes when options.hash, else "" */
} DatasetEpisode;

typedef struct {
    char *root;                /* the directory, or the file / "" for a list */
    int count;
    DatasetEpisode *episodes;  /* sorted by file name for a directory; in the given order for a list */
} Dataset;

/* Indexes path: a directory (every *.h5 / *.hdf5 regular file directly inside it) or one episode
 * file. Files that do not open are kept as !usable entries with their error; the call fails only
 * when path cannot be listed, the mapping file is bad, or memory runs out. */
int dataset_open(Dataset **out, const char *path, const DatasetOptions *opt);
/* Same for an explicit list of files. */
int dataset_open_files(Dataset **out, const char *const *paths, int n, const DatasetOptions *opt);
void dataset_free(Dataset *ds);

/* Number of usable episodes. */
int dataset_usable(const Dataset *ds);
/* Index of the entry whose file name (base name) is file, or -1. */
int dataset_find(const Dataset *ds, const char *file);
/* Opens entry i's file for frame reads. */
int dataset_open_episode(const Dataset *ds, int i, EpisodeReader **out);

/* Lists the episode files of a directory (sorted, full paths dir/name). */
int dataset_list_dir(const char *dir, char ***paths, int *n);
void dataset_free_list(char **paths, int n);

/* Instruction mapping (JSON object of strings) and resolution, for callers that resolve alone. */
typedef struct InstructionMap InstructionMap;
int instruction_map_load(InstructionMap **out, const char *path);
void instruction_map_free(InstructionMap *m);
/* The text for an episode; map may be NULL; never NULL. *source (may be NULL) says which rule won. */
const char *instruction_resolve(const EpisodeInfo *info, const InstructionMap *map, const char *lang,
                                const char *override_text, InstructionSource *source);
const char *instruction_source_name(InstructionSource s); /* "override", "file", "mapping", "default" */

#endif
