/* mvla: run a trained mvla policy (a model file written by `mvla export`) on camera frames.
 *
 *   mvla_model *m;
 *   if (mvla_open(&m, "policy.safetensors", NULL) != MVLA_OK) { puts(mvla_last_error()); return 1; }
 *   mvla_set_instruction(m, "Navigate around the obstacle on the left side and reach the cup");
 *   for (;;) {                          one call per camera frame
 *       float action[3];                linear_x m/s, linear_y m/s, angular_z rad/s
 *       mvla_step(m, pixels, width, height, MVLA_BGR, action, NULL);
 *   }
 *   mvla_close(m);
 *
 * Every function returns MVLA_OK (0) or an error code; mvla_last_error() gives the calling thread's
 * last message (file, field and what was expected). Frames may have any size: the model's own
 * preprocessing (resize/crop, channel order, normalisation, read from the model file) is applied.
 * Threads: a handle is not thread-safe: use one handle per thread. The options' thread count sets
 * the library's process-wide compute threads (1 is usually fastest for one frame).
 * Memory: once the first few steps have run, mvla_step allocates nothing of its own (preprocessing,
 * network and history live in buffers made at the first steps; an int8 model file makes no allocation
 * at all; an fp32 one leaves only libgomp's bookkeeping of each parallel region). Link with
 * `pkg-config --libs mvla`. */
#ifndef MVLA_PUBLIC_H
#define MVLA_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes (the same values as the library's internal codes). */
#ifndef MVLA_ERROR_H
typedef enum {
    MVLA_OK = 0,
    MVLA_ERR_IO,          /* a file could not be opened or read */
    MVLA_ERR_FORMAT,      /* a file is malformed, truncated or not a model file */
    MVLA_ERR_ARG,         /* an invalid argument */
    MVLA_ERR_NOMEM,       /* out of memory */
    MVLA_ERR_UNSUPPORTED  /* valid but not supported (e.g. a newer model format version) */
} mvla_status;
#endif

/* Channel order of the frames given to mvla_step (bytes per pixel: 3, rows top to bottom). */
#define MVLA_BGR 0
#define MVLA_RGB 1

typedef struct mvla_model mvla_model;

typedef struct {
    int threads;   /* compute threads for the process; 0: leave the current setting */
} mvla_options;

/* Opens a model file. opt may be NULL. On failure *out is NULL. An ensemble file (`mvla export A B ...`)
 * opens the same way: mvla_step runs every member and returns the mean of their actions and chunks. */
int mvla_open(mvla_model **out, const char *path, const mvla_options *opt);
/* Sets the instruction (NULL: the model's default instruction) and starts a new episode. */
int mvla_set_instruction(mvla_model *m, const char *text);
/* The model's default instruction ("" when it has none). */
const char *mvla_default_instruction(const mvla_model *m);
/* Starts a new episode (forgets past frames), keeping the instruction. */
int mvla_reset(mvla_model *m);
/* One frame in (width x height x 3 bytes, channel_order MVLA_BGR or MVLA_RGB): action[3] out in raw
 * units; chunk (NULL or mvla_chunk_size(m) * 3 floats) receives the predicted next actions. */
int mvla_step(mvla_model *m, const uint8_t *pixels, int width, int height, int channel_order, float action[3],
              float *chunk);
/* Actions predicted per step (K). */
int mvla_chunk_size(const mvla_model *m);
/* The model's |action| bounds per axis (raw units). */
void mvla_action_limits(const mvla_model *m, float limits[3]);
void mvla_close(mvla_model *m);

/* Where the time of mvla_step went, summed over the steps since mvla_open (for profiling). */
typedef struct {
    long steps;
    double preprocess_s;   /* resize, channel order, pixel normalisation (all but the network) */
    double encoder_s;      /* the image encoder on the new frame */
    double head_s;         /* the temporal head over the window, and the action decoding */
} mvla_timing;
int mvla_get_timing(const mvla_model *m, mvla_timing *out);

/* The calling thread's last error message ("" if none). */
const char *mvla_last_error(void);
/* A short name for a status code ("ok", "io", "format", ...). */
const char *mvla_status_string(int status);

#ifdef __cplusplus
}
#endif

#endif
