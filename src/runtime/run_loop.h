/* `mvla run`'s testable parts: frame sources, the step loop with the safety layer, JSON output.
 *
 * Sources: an episode file (.h5: its frames in order, BGR, timestamps spread over total_duration),
 * a folder of PNG / JPEG images (sorted by file name, RGB, timestamps = seconds since start), a V4L2
 * camera (runtime/v4l2_source.h), or any FrameSourceOps (tests use slow fake sources).
 * Each step prints one JSON line:
 *   {"step": 0, "t": 0.0, "latency_ms": 1.2, "action": [x, y, z], "chunk": [...]}
 * plus "stopped_reason" when the safety layer zeroed the action ("nonfinite_output",
 * "stale_source") or on the last step when max_steps ended the run ("max_steps").
 *
 * Stall watchdog (safety.timeout_s > 0): when the source delivers no new frame within the timeout,
 * the loop does not wait longer: it emits a stop line without running the model,
 *   {"step": 7, "t": 1.25, "latency_ms": 0, "action": [0, 0, 0], "stopped_reason": "stale_source",
 *    "stall_ms": 312.5}
 * (t and stall_ms: seconds since the run started, and milliseconds since the last frame or the start)
 * and keeps emitting one every timeout until frames come again. Sources that read synchronously (files)
 * cannot be interrupted: a frame whose read took longer than the timeout gets a zero action instead. */
#ifndef MVLA_RUN_LOOP_H
#define MVLA_RUN_LOOP_H

#include "runtime/safety.h"

#include <mvla.h>
#include <stdint.h>
#include <stdio.h>

typedef struct FrameSource FrameSource;

/* frame_source_wait's answer when no new frame arrived within the timeout. */
#define FRAME_SOURCE_TIMEOUT 2

/* A frame source implemented elsewhere (the V4L2 camera, tests' fake sources). */
typedef struct {
    /* Waits up to timeout_s (<= 0: as long as it takes) for a new frame: 1 got one (pixels owned by
     * ctx, valid until the next call; t in seconds), 0 end of the source, FRAME_SOURCE_TIMEOUT none
     * within the timeout, else -status (with mvla_fail's message). */
    int (*next)(void *ctx, double timeout_s, const uint8_t **pixels, int *width, int *height,
                int *channel_order, double *t);
    /* Frees ctx (may be NULL). */
    void (*close)(void *ctx);
    /* 1: next gives up at its timeout (a camera thread), so a frame it returns is fresh; 0: next blocks
     * until its frame is read (a file), so a read that took longer than the timeout is a stale frame. */
    int waits;
} FrameSourceOps;

/* Opens an episode file, an image folder, or a camera (/dev/videoN at the default 640x480). */
int frame_source_open(FrameSource **out, const char *path);
/* Wraps ops and ctx (the source owns ctx from then on, even on failure). */
int frame_source_from_ops(FrameSource **out, const FrameSourceOps *ops, void *ctx);
/* The next frame (owned by the source, valid until the next call): 1 got one, 0 end, else -status. */
int frame_source_next(FrameSource *s, const uint8_t **pixels, int *width, int *height, int *channel_order,
                      double *t);
/* Same, giving up after timeout_s (> 0) with FRAME_SOURCE_TIMEOUT when the source can wait (cameras,
 * FrameSourceOps with waits); file sources always answer when their frame is read. */
int frame_source_wait(FrameSource *s, double timeout_s, const uint8_t **pixels, int *width, int *height,
                      int *channel_order, double *t);
/* The episode's instruction (NULL for folders or when absent). */
const char *frame_source_instruction(const FrameSource *s);
void frame_source_close(FrameSource *s);

typedef struct {
    SafetyConfig safety;
    long max_steps;         /* <= 0: until the source ends */
} RunOptions;

/* A UDP sink for the JSON lines ("HOST:PORT"). */
typedef struct {
    int fd;
    void *addr;             /* struct sockaddr_storage */
    unsigned addr_len;
} UdpSink;

int udp_sink_open(UdpSink *u, const char *host_port);
void udp_sink_close(UdpSink *u);

/* Formats one step's JSON line (with newline) into buf; returns its length, or -1 if it does not fit. */
int run_format_line(char *buf, size_t size, long step, double t, double latency_ms, const float action[3],
                    const float *chunk, int k, const char *stopped_reason);

/* Steps the model over every frame of src, writing one line per step to out (and udp when not NULL). */
int run_loop(mvla_model *m, FrameSource *src, const RunOptions *o, FILE *out, UdpSink *udp);

#endif
