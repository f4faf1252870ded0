/* Episode files: the Mobile VLA collector's HDF5 format (../shared/REFERENCE.md section 2), read
 * and written with libhdf5 exactly as h5py writes them.
 *
 *   images               uint8  (T, H, W, 3)  BGR, gzip-chunked (one chunk per frame)
 *   actions              float32 (T, 3)       [linear_x, linear_y, angular_z]
 *   action_event_types   variable-length UTF-8 strings (T,): episode_start / start_action / stop_action
 *   language_instruction fixed-length string S256 (1,), optional
 *   attributes: episode_name (str), total_duration (f64), num_frames (i64), action_chunk_size (i64),
 *               obstacle_layout_type (str), time_period (str), collection_datetime (str),
 *               collection_hour (i64), collection_minute (i64)   -- each optional on read
 *
 * Reading is two-level: episode_open reads everything small (attributes, actions, events,
 * instruction, image shape) and keeps the file open, so single frames are read on demand
 * (episode_read_frame reads one chunk, not the whole image stack). */
#ifndef MVLA_EPISODE_H
#define MVLA_EPISODE_H

#include <stdint.h>

#define EPISODE_ACTION_DIM 3

/* What the file name says, e.g. episode_20250101_120000_1box_vert_left_core_medium_evening.h5
 * or basket_episode_..._2box_hori_right_variant_far.h5. Unknown parts stay empty ("") / 0. */
typedef struct {
    char target[32];     /* "cup" (default when no prefix), "basket", "bottle", ... prefix before "episode_" */
    int boxes;           /* 1 or 2; 0 if unknown */
    char layout[8];      /* "vert" / "hori" */
    char side[8];        /* "left" / "right" */
    char kind[8];        /* "core" / "variant" */
    char distance[8];    /* "close" / "medium" / "far" */
    char lighting[16];   /* trailing "dawn"/"morning"/"evening"/"night" suffix, if any */
    char scenario[32];   /* "1box_vert_left" when boxes, layout and side are known, else "" */
} EpisodeName;

/* Parses a path's file name; never fails (unknown names leave fields empty). */
void episode_parse_name(const char *path, EpisodeName *out);

typedef struct {
    char *path;
    char *episode_name;        /* attribute, or the file stem if absent */
    int num_frames;            /* T (from the images dataset) */
    int height, width;         /* image size; channels are always 3 */
    float *actions;            /* T x 3 */
    char **events;             /* T strings (NULL entries if the dataset is absent) */
    char *instruction;         /* from language_instruction, or NULL if the file has none */
    double total_duration;     /* seconds; 0 if absent */
    long action_chunk_size;    /* 0 if absent */
    char *layout_attr;         /* obstacle_layout_type; NULL if absent */
    char *time_period;         /* NULL if absent */
    char *collection_datetime; /* NULL if absent */
    long collection_hour, collection_minute; /* -1 if absent */
    EpisodeName name;          /* parsed from the path */
    long num_frames_attr;      /* the num_frames attribute as stored; -1 if absent (read only; the writer
                                  always stores num_frames) */
} EpisodeInfo;

typedef struct EpisodeReader EpisodeReader;

/* Open rules: images (uint8 (T,H,W,3)) and actions (float32/float64 (T,3)) are required;
 * action_event_types (strings (T,)) and language_instruction (a string dataset, first element)
 * are optional; every attribute is optional but must have the right kind (string / number) when
 * present. A length mismatch between images, actions and events is an error. At most 2^20 frames
 * of at most 16384 pixels a side. */
/* Opens path and reads its metadata, actions and events. Errors name the file and the dataset or
 * attribute, e.g. "ep.h5: dataset 'actions': shape (17, 3), expected (18, 3) to match images". */
int episode_open(EpisodeReader **out, const char *path);
const EpisodeInfo *episode_info(const EpisodeReader *r);
/* Reads frame t as BGR bytes (height*width*3) into dst. A reader belongs to one thread at a time;
 * different readers may be used from different threads at once: libhdf5 calls are serialised by a
 * global lock, but for gzip-chunked images (what h5py and episode_write produce) the raw chunks are
 * fetched under the lock and inflated outside it, so decoding runs in parallel. Frames are decoded
 * a chunk-run at a time (h5py's chunks may span several frames) and kept until the next run, so
 * reading frames in order decodes each chunk once. */
int episode_read_frame(EpisodeReader *r, int t, uint8_t *dst);
void episode_close(EpisodeReader *r);

/* Opens path (and with read_frames, reads every frame) in a forked child process and reports how
 * it went: 0, or the error episode_open / episode_read_frame gave, or "damaged file: libhdf5
 * crashed reading it" when libhdf5 itself crashed on the file (1.10 has such bugs on damaged
 * files). Use before opening untrusted files in-process; costs one fork and one open. */
int episode_probe(const char *path, int read_frames);

/* A deep copy of an EpisodeInfo (strings, actions, events), owned by the caller, so the summary can
 * outlive its reader; episode_info_free frees such a copy's fields (not the struct itself). */
int episode_info_copy(EpisodeInfo *dst, const EpisodeInfo *src);
void episode_info_free(EpisodeInfo *info);

/* Writes an episode atomically (temp file, then rename) with h5py's layout and types, gzip level 4,
 * one chunk per frame. frames: num_frames x height x width x 3 BGR bytes. Fields of info that are
 * NULL / negative are not written (except episode_name, num_frames and the datasets); precisely:
 * total_duration is written when >= 0, action_chunk_size when > 0 (0 reads back as "absent"),
 * collection_hour/minute when >= 0, strings when non-NULL; episode_name defaults to the file stem.
 * events NULL (or a NULL entry) writes what the collector would: episode_start for frame 0, then
 * start_action, or stop_action for a zero action. The instruction must fit in 256 bytes.
 * info->path, info->name and info->num_frames_attr are ignored. */
int episode_write(const char *path, const EpisodeInfo *info, const uint8_t *frames);

/* The built-in instruction for a side ("left" / "right"; anything else: the fallback), in English
 * ("en") or the original Korean ("ko"). */
const char *episode_default_instruction(const char *side, const char *lang);
/* Same, for a target: "basket" gives "Navigate to the gray basket on the left/right"; any other
 * target (or NULL) the beverage-bottle sentence in English. Korean has only the cup sentences. */
const char *episode_default_instruction_for(const char *target, const char *side, const char *lang);

/* The process-wide libhdf5 lock (serial HDF5 is not thread-safe). Hold it around any direct libhdf5
 * call made outside this module; the functions above take it themselves. Not recursive. */
void episode_h5_lock(void);
void episode_h5_unlock(void);

#endif
