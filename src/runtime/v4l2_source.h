/* A V4L2 camera (/dev/videoN) as a frame source for `mvla run` (runtime/run_loop.h), through libv4l2:
 * whatever the camera sends (YUYV, MJPEG, ...) arrives converted to BGR24 by libv4lconvert.
 *
 * A background thread captures continuously (memory-mapped driver buffers, VIDIOC_DQBUF / QBUF) and
 * keeps only the newest frame, so the control loop always steps on the latest image and never on a
 * backlog. frame_source_wait hands out each captured frame at most once: when the camera delivers
 * nothing new within the timeout it returns FRAME_SOURCE_TIMEOUT (the run loop's stall watchdog).
 * Frame times are the driver's capture timestamps (CLOCK_MONOTONIC when the driver says so, else the
 * time the frame was dequeued), in seconds since the source was opened.
 *
 * Errors name the device and what is wrong: no such device, permission, not a V4L2 video capture
 * device (e.g. /dev/null or a regular file), no streaming I/O, no BGR24 conversion, a capture error. */
#ifndef MVLA_V4L2_SOURCE_H
#define MVLA_V4L2_SOURCE_H

#include "runtime/run_loop.h"

#define V4L2_SOURCE_DEFAULT_WIDTH 640
#define V4L2_SOURCE_DEFAULT_HEIGHT 480

/* 1 if path names a camera rather than a file or folder: "/dev/video*", or any character device. */
int v4l2_source_is_camera(const char *path);

/* Opens the camera and starts capturing at about width x height (the driver picks the nearest size it
 * supports; frames report the size actually delivered). */
int v4l2_source_open(FrameSource **out, const char *device, int width, int height);

#endif
