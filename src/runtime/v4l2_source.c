/* V4L2 camera frame source with a capture thread (see v4l2_source.h). */
#include "base/error.h"
#include "runtime/v4l2_source.h"

#include <errno.h>
#include <fcntl.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N_BUFFERS 4
#define POLL_MS 100   /* how often the capture thread checks for the stop request */

typedef struct {
    char device[256];
    int fd;
    int width, height;          /* the delivered size */
    size_t frame_bytes;         /* width * height * 3 */
    void *map[N_BUFFERS];
    size_t map_len[N_BUFFERS];
    int n_map, streaming;
    /* Triple buffering: the thread writes `back`, publishes it as `ready`; the reader takes `ready`
     * into `front`. */
    uint8_t *back, *ready, *front;
    double ready_t, start;
    long seq, taken;            /* frames published, and the last one handed out */
    int error, stop;            /* error: an mvla status once capture failed */
    char error_msg[512];
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} Camera;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int v4l2_source_is_camera(const char *path)
{
    if (!strncmp(path, "/dev/video", 10)) return 1;
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISCHR(sb.st_mode);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do r = v4l2_ioctl(fd, req, arg);
    while (r == -1 && errno == EINTR);
    return r;
}

static void set_error(Camera *c, const char *what, int err)
{
    pthread_mutex_lock(&c->mu);
    if (!c->error) {
        c->error = MVLA_ERR_IO;
        snprintf(c->error_msg, sizeof c->error_msg, "%s: capture: %s: %s", c->device, what, strerror(err));
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Dequeues one filled buffer (converted to BGR24 by libv4l2), publishes a copy, queues it back. */
static int capture_one(Camera *c)
{
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (xioctl(c->fd, VIDIOC_DQBUF, &b) < 0) {
        if (errno == EAGAIN) return 0;
        set_error(c, "VIDIOC_DQBUF", errno);
        return -1;
    }
    double t = mono_now();
    if ((b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC &&
        (b.timestamp.tv_sec || b.timestamp.tv_usec))
        t = b.timestamp.tv_sec + b.timestamp.tv_usec * 1e-6;
    int ok = b.index < (unsigned)c->n_map && b.bytesused >= c->frame_bytes && !(b.flags & V4L2_BUF_FLAG_ERROR);
    if (ok) memcpy(c->back, c->map[b.index], c->frame_bytes);
    if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0) {
        set_error(c, "VIDIOC_QBUF", errno);
        return -1;
    }
    if (!ok) return 0; /* a short or corrupt frame: skip it */
    pthread_mutex_lock(&c->mu);
    uint8_t *tmp = c->ready;
    c->ready = c->back;
    c->back = tmp;
    c->ready_t = t - c->start;
    c->seq++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void *capture_thread(void *arg)
{
    Camera *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, POLL_MS);
        if (r < 0 && errno != EINTR) {
            set_error(c, "poll", errno);
            break;
        }
        if (r > 0 && capture_one(c)) break;
    }
    return NULL;
}

static int camera_next(void *ctx, double timeout_s, const uint8_t **pixels, int *width, int *height,
                       int *channel_order, double *t)
{
    Camera *c = ctx;
    pthread_mutex_lock(&c->mu);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_s > 0) {
        double end = until.tv_sec + until.tv_nsec * 1e-9 + timeout_s;
        until.tv_sec = (time_t)end;
        until.tv_nsec = (long)((end - (double)until.tv_sec) * 1e9);
    }
    int timed_out = 0;
    while (c->seq == c->taken && !c->error && !timed_out) {
        if (timeout_s > 0) timed_out = pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT;
        else pthread_cond_wait(&c->cv, &c->mu);
    }
    int rc;
    if (c->seq != c->taken) {
        uint8_t *tmp = c->front;
        c->front = c->ready;
        c->ready = tmp;
        c->taken = c->seq;
        *pixels = c->front;
        *width = c->width;
        *height = c->height;
        *channel_order = MVLA_BGR;
        *t = c->ready_t;
        rc = 1;
    } else if (c->error) {
        rc = -mvla_fail(c->error, "%s", c->error_msg);
    } else {
        rc = FRAME_SOURCE_TIMEOUT;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void camera_close(void *ctx)
{
    Camera *c = ctx;
    if (!c) return;
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    if (c->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(c->fd, VIDIOC_STREAMOFF, &type);
    }
    for (int i = 0; i < c->n_map; i++) v4l2_munmap(c->map[i], c->map_len[i]);
    if (c->fd >= 0) v4l2_close(c->fd);
    free(c->back), free(c->ready), free(c->front);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static const FrameSourceOps camera_ops = {camera_next, camera_close, 1};

/* Opens the device and checks it is a V4L2 capture device with plain system calls, then hands the fd
 * to libv4l2 (which would print its own complaints to stderr about anything else). */
static int camera_open(Camera *c)
{
    const char *dev = c->device;
    int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return mvla_fail(MVLA_ERR_IO, "%s: cannot open the camera: %s%s", dev, strerror(e),
                         e == ENOENT ? " (no such device: is the camera plugged in? `ls /dev/video*`)"
                         : e == EACCES ? " (add the user to the video group)" : "");
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    int r;
    do r = ioctl(fd, VIDIOC_QUERYCAP, &cap);
    while (r == -1 && errno == EINTR);
    int rc = 0;
    unsigned caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
    if (r < 0)
        rc = mvla_fail(MVLA_ERR_ARG, "%s: not a V4L2 video device (VIDIOC_QUERYCAP: %s)", dev, strerror(errno));
    else if (!(caps & V4L2_CAP_VIDEO_CAPTURE))
        rc = mvla_fail(MVLA_ERR_ARG, "%s (%s): not a video capture device", dev, (const char *)cap.card);
    else if (!(caps & V4L2_CAP_STREAMING))
        rc = mvla_fail(MVLA_ERR_UNSUPPORTED, "%s (%s): the driver has no streaming I/O", dev, (const char *)cap.card);
    else if ((c->fd = v4l2_fd_open(fd, 0)) < 0)
        rc = mvla_fail(MVLA_ERR_IO, "%s: libv4l2 cannot take the device: %s", dev, strerror(errno));
    if (rc) close(fd);
    return rc;
}

/* Format, buffers, streaming; the thread is started by the caller. */
static int camera_setup(Camera *c, int width, int height)
{
    const char *dev = c->device;
    struct v4l2_format f;
    memset(&f, 0, sizeof f);
    f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    f.fmt.pix.width = (unsigned)width;
    f.fmt.pix.height = (unsigned)height;
    f.fmt.pix.pixelformat = V4L2_PIX_FMT_BGR24;
    f.fmt.pix.field = V4L2_FIELD_ANY;
    if (xioctl(c->fd, VIDIOC_S_FMT, &f) < 0)
        return mvla_fail(MVLA_ERR_IO, "%s: cannot set the capture format (VIDIOC_S_FMT: %s)", dev, strerror(errno));
    if (f.fmt.pix.pixelformat != V4L2_PIX_FMT_BGR24)
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: the camera's format cannot be converted to BGR24", dev);
    c->width = (int)f.fmt.pix.width, c->height = (int)f.fmt.pix.height;
    if (c->width < 1 || c->height < 1 || c->width > 16384 || c->height > 16384 ||
        f.fmt.pix.bytesperline != (unsigned)c->width * 3)
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: frame %dx%d with %u bytes per line: expected packed BGR24", dev,
                         c->width, c->height, f.fmt.pix.bytesperline);
    c->frame_bytes = (size_t)c->width * c->height * 3;
    c->back = malloc(c->frame_bytes), c->ready = malloc(c->frame_bytes), c->front = malloc(c->frame_bytes);
    if (!c->back || !c->ready || !c->front) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", dev);

    struct v4l2_requestbuffers req;
    memset(&req, 0, sizeof req);
    req.count = N_BUFFERS;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    if (xioctl(c->fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 1)
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "%s: no memory-mapped capture buffers (VIDIOC_REQBUFS: %s)", dev,
                         strerror(errno));
    for (unsigned i = 0; i < req.count && i < N_BUFFERS; i++) {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        b.index = i;
        if (xioctl(c->fd, VIDIOC_QUERYBUF, &b) < 0)
            return mvla_fail(MVLA_ERR_IO, "%s: VIDIOC_QUERYBUF %u: %s", dev, i, strerror(errno));
        void *p = v4l2_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
        if (p == MAP_FAILED) return mvla_fail(MVLA_ERR_IO, "%s: mmap of buffer %u: %s", dev, i, strerror(errno));
        c->map[i] = p, c->map_len[i] = b.length, c->n_map++;
        if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0)
            return mvla_fail(MVLA_ERR_IO, "%s: VIDIOC_QBUF %u: %s", dev, i, strerror(errno));
    }
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(c->fd, VIDIOC_STREAMON, &type) < 0)
        return mvla_fail(MVLA_ERR_IO, "%s: cannot start streaming (VIDIOC_STREAMON: %s)", dev, strerror(errno));
    c->streaming = 1;
    return 0;
}

int v4l2_source_open(FrameSource **out, const char *device, int width, int height)
{
    *out = NULL;
    if (width < 1 || height < 1)
        return mvla_fail(MVLA_ERR_ARG, "%s: camera size %dx%d: expected positive sides", device, width, height);
    Camera *c = calloc(1, sizeof *c);
    if (!c) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", device);
    snprintf(c->device, sizeof c->device, "%s", device);
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = camera_open(c);
    if (!rc) rc = camera_setup(c, width, height);
    if (!rc) {
        c->start = mono_now();
        if (pthread_create(&c->thread, NULL, capture_thread, c) != 0)
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: cannot start the capture thread", device);
        else
            c->thread_started = 1;
    }
    if (rc) {
        camera_close(c);
        return rc;
    }
    return frame_source_from_ops(out, &camera_ops, c);
}
