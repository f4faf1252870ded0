/* The frame cache: every frame of a set of episodes decoded once, converted BGR -> RGB and resized
 * to the model's input (src/data/preprocess.h), stored as uint8 in ONE memory-mapped file, so a
 * training epoch reads nothing else.
 *
 * File layout (all integers little-endian):
 *   0   8 bytes  magic "MVLAFC01"
 *   8   u64      N, the length of the JSON header
 *   16  N bytes  JSON header (compact, keys in a fixed order):
 *         {"format":"mvla-frame-cache","version":1,
 *          "preprocess":{"width":128,"height":72,"crop":"stretch","filter":"area",
 *                        "channels":"RGB","dtype":"uint8","layout":"HWC"},
 *          "instructions":{"lang":"en","mapping":"sha256:... or empty","override":"text or empty"},
 *          "frame_bytes":27648,"total_frames":T,
 *          "episodes":[{"file":"episode_....h5","hash":"<content hash>","episode_name":"...",
 *                       "frame_offset":0,"num_frames":18,"source_width":1280,"source_height":720,
 *                       "target":"cup","scenario":"1box_vert_left","side":"left",
 *                       "instruction":"...","actions":[[x,y,z],...],"events":["episode_start",...]}, ...]}
 *   zero padding up to D = 16 + N rounded up to a multiple of 4096
 *   D   T x height x width x 3 bytes: the frames, episode after episode, each H x W x RGB
 * Episodes are sorted by file name. Nothing in the file depends on time, paths or threads, so two
 * builds from the same sources and preprocessing are byte-identical. The header records the
 * preprocessing and each source's content hash: cache_open_or_build rebuilds when either changed. */
#ifndef MVLA_CACHE_H
#define MVLA_CACHE_H

#include "data/preprocess.h"

#include <stddef.h>
#include <stdint.h>

#define CACHE_HASH_MAX 80 /* bytes for a content-hash string, NUL included */

/* One source episode: its file name inside the dataset directory and, optionally, its content hash
 * (NULL: the cache computes it; pass the hash from a verified split manifest to avoid re-reading). */
typedef struct {
    const char *file;
    const char *hash;
} CacheSource;

typedef struct {
    char *file;             /* source file name, relative to the dataset directory */
    char *hash;             /* its content hash when the cache was built */
    char *episode_name;
    long frame_offset;      /* index of the episode's first frame in the cache */
    int num_frames;
    int source_width, source_height;
    float *actions;         /* num_frames x 3: linear_x, linear_y, angular_z */
    char **events;          /* num_frames strings ("" where the file had none) */
    char *instruction;      /* the resolved instruction ("" if none) */
    char target[32], scenario[32], side[8];
} CacheEpisode;

typedef struct FrameCache FrameCache;

/* Called after each episode (from one thread at a time). */
typedef void (*CacheProgressFn)(void *ctx, long episodes_done, long episodes_total);

/* How instructions are resolved (the rules of src/data/dataset.h) and progress reporting. The
 * instruction settings are recorded in the header ("instructions": lang, the mapping file's content
 * hash, the override text), so changing them rebuilds the cache too. */
typedef struct {
    const char *lang;          /* built-in defaults' language: "en" (NULL) or "ko" */
    const char *mapping_path;  /* JSON instruction mapping, or NULL */
    const char *instruction;   /* one instruction for every episode, or NULL */
    CacheProgressFn progress;  /* may be NULL */
    void *progress_ctx;
} CacheOptions;

/* Builds the cache at cache_path (atomically: temp file, then rename) from the sources in dir.
 * opt may be NULL (English defaults, no mapping, no override, no progress).
 * Episodes are processed in parallel (OpenMP), each thread with its own reader; HDF5 calls serialise
 * on the global lock of src/io/episode.c, decompression (where the reader does it outside the lock),
 * resizing and writing overlap. */
int cache_build(const char *cache_path, const char *dir, const CacheSource *src, int n, const Preprocess *p,
                const CacheOptions *opt);

/* Opens and validates a cache (memory-mapped, read-only). */
int cache_open(FrameCache **out, const char *cache_path);
void cache_close(FrameCache *c);

/* Opens cache_path if it holds exactly these sources (same files and content hashes) made with the
 * same preprocessing and instruction settings, else (re)builds it first. *rebuilt (may be NULL) says which happened. A cache
 * that is missing, unreadable or from another format version is rebuilt too. */
int cache_open_or_build(FrameCache **out, const char *cache_path, const char *dir, const CacheSource *src, int n,
                        const Preprocess *p, const CacheOptions *opt, int *rebuilt);

const char *cache_path(const FrameCache *c);
const Preprocess *cache_preprocess(const FrameCache *c);
int cache_num_episodes(const FrameCache *c);
const CacheEpisode *cache_episode(const FrameCache *c, int i);
/* Index of the episode built from this file name, or -1. */
int cache_find(const FrameCache *c, const char *file);
long cache_total_frames(const FrameCache *c);
/* Bytes per frame: width * height * 3. */
size_t cache_frame_bytes(const FrameCache *c);
/* Frame t of episode i (t in 0..num_frames-1): height x width x 3 RGB bytes, inside the mapping. */
const uint8_t *cache_frame(const FrameCache *c, int i, int t);

/* The content hash of a file as the cache and split manifests record it ("sha256:<64 hex digits>",
 * src/base/hash.h). out: CACHE_HASH_MAX bytes. */
int cache_hash_file(const char *path, char *out);

#endif
