/* `mvla run`'s testable parts: frame sources, the step loop with the safety layer, JSON output.
 *
 * Sources: an episode file (.h5: its frames in order, BGR, timestamps spread over total_duration)
 * or a folder of PNG / JPEG images (sorted by file name, RGB, timestamps = seconds since start).
 * Each step prints one JSON line:
 *   {"step": 0, "t": 0.0, "latency_ms": 1.2, "action": [x, y, z], "chunk": [...]}
 * plus "stopped_reason" when the safety layer zeroed the action ("nonfinite_output",
 * "stale_source") or on the last step when max_steps ended the run ("max_steps"). */
#ifndef MVLA_RUN_LOOP_H
#define MVLA_RUN_LOOP_H

#include "runtime/safety.h"

#include <mvla.h>
#include <stdint.h>
#include <stdio.h>

typedef struct FrameSource FrameSource;

/* Opens an episode file or an image folder. */
int frame_source_open(FrameSource **out, const char *path);
/* The next frame (owned by the source, valid until the next call): 1 got one, 0 end, else -status. */
int frame_source_next(FrameSource *s, const uint8_t **pixels, int *width, int *height, int *channel_order,
                      double *t);
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
