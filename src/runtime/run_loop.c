/* `mvla run`'s loop: frame sources, safety, JSON lines (see run_loop.h). */
#include "base/error.h"
#include "base/str_order.h"
#include "io/episode.h"
#include "runtime/run_loop.h"
#include "runtime/v4l2_source.h"

#include <dirent.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stb_image.h>

struct FrameSource {
    EpisodeReader *ep;        /* episode source */
    uint8_t *frame;           /* episode frame buffer */
    char **files;             /* folder source: sorted paths */
    int n, next;
    uint8_t *image;           /* the last stb image */
    double start;
    const FrameSourceOps *ops; /* a source implemented elsewhere (camera, fake) */
    void *ctx;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int open_folder(FrameSource *s, const char *path)
{
    DIR *d = opendir(path);
    if (!d) return mvla_fail(MVLA_ERR_IO, "%s: cannot open the folder", path);
    int cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 64;
            char **f = realloc(s->files, (size_t)cap * sizeof *f);
            if (!f) {
                rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            s->files = f;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(s->files[s->n] = malloc(len))) rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
        else snprintf(s->files[s->n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (!rc && s->n == 0) rc = mvla_fail(MVLA_ERR_ARG, "%s: no .png / .jpg / .jpeg images in the folder", path);
    if (!rc) str_sort(s->files, (size_t)s->n);
    return rc;
}

int frame_source_open(FrameSource **out, const char *path)
{
    *out = NULL;
    FrameSource *s = calloc(1, sizeof *s);
    if (!s) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    s->start = now_s();
    struct stat sb;
    int rc;
    if (!strncmp(path, "/dev/video", 10)) {
        free(s);
        return v4l2_source_open(out, path, V4L2_SOURCE_DEFAULT_WIDTH, V4L2_SOURCE_DEFAULT_HEIGHT);
    } else if (stat(path, &sb) != 0) {
        rc = mvla_fail(MVLA_ERR_IO, "%s: no such file or folder (expected an episode .h5, an image folder or a "
                       "camera /dev/videoN)", path);
    } else if (S_ISDIR(sb.st_mode)) {
        rc = open_folder(s, path);
    } else if (v4l2_source_is_camera(path)) {
        free(s);
        return v4l2_source_open(out, path, V4L2_SOURCE_DEFAULT_WIDTH, V4L2_SOURCE_DEFAULT_HEIGHT);
    } else if (!(rc = episode_open(&s->ep, path))) {
        const EpisodeInfo *in = episode_info(s->ep);
        s->n = in->num_frames;
        if (!(s->frame = malloc((size_t)in->width * in->height * 3)))
            rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    if (rc) {
        frame_source_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int frame_source_from_ops(FrameSource **out, const FrameSourceOps *ops, void *ctx)
{
    *out = NULL;
    FrameSource *s = calloc(1, sizeof *s);
    if (!s) {
        if (ops->close) ops->close(ctx);
        return mvla_fail(MVLA_ERR_NOMEM, "frame source: out of memory");
    }
    s->start = now_s();
    s->ops = ops;
    s->ctx = ctx;
    *out = s;
    return 0;
}

int frame_source_next(FrameSource *s, const uint8_t **pixels, int *width, int *height, int *channel_order,
                      double *t)
{
    return frame_source_wait(s, 0, pixels, width, height, channel_order, t);
}

int frame_source_wait(FrameSource *s, double timeout_s, const uint8_t **pixels, int *width, int *height,
                      int *channel_order, double *t)
{
    if (s->ops) return s->ops->next(s->ctx, timeout_s, pixels, width, height, channel_order, t);
    if (s->next >= s->n) return 0;
    int i = s->next++;
    if (s->ep) {
        const EpisodeInfo *in = episode_info(s->ep);
        int rc = episode_read_frame(s->ep, i, s->frame);
        if (rc) return -rc;
        *pixels = s->frame;
        *width = in->width;
        *height = in->height;
        *channel_order = MVLA_BGR;
        *t = in->num_frames > 1 && in->total_duration > 0 ? in->total_duration * i / (in->num_frames - 1) : i;
        return 1;
    }
    stbi_image_free(s->image);
    int w, h, ch;
    s->image = stbi_load(s->files[i], &w, &h, &ch, 3);
    if (!s->image)
        return -mvla_fail(MVLA_ERR_FORMAT, "%s: cannot decode the image: %s", s->files[i], stbi_failure_reason());
    *pixels = s->image;
    *width = w;
    *height = h;
    *channel_order = MVLA_RGB;
    *t = now_s() - s->start;
    return 1;
}

const char *frame_source_instruction(const FrameSource *s) { return s->ep ? episode_info(s->ep)->instruction : NULL; }

void frame_source_close(FrameSource *s)
{
    if (!s) return;
    if (s->ops && s->ops->close) s->ops->close(s->ctx);
    if (s->ep) episode_close(s->ep);
    free(s->frame);
    if (s->files)
        for (int i = 0; i < s->n; i++) free(s->files[i]);
    free(s->files);
    stbi_image_free(s->image);
    free(s);
}

int udp_sink_open(UdpSink *u, const char *host_port)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
    char host[256];
    const char *colon = strrchr(host_port, ':');
    if (!colon || colon == host_port || (size_t)(colon - host_port) >= sizeof host || !colon[1])
        return mvla_fail(MVLA_ERR_ARG, "--udp %s: expected HOST:PORT", host_port);
    memcpy(host, host_port, (size_t)(colon - host_port));
    host[colon - host_port] = 0;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int e = getaddrinfo(host, colon + 1, &hints, &res);
    if (e) return mvla_fail(MVLA_ERR_ARG, "--udp %s: %s", host_port, gai_strerror(e));
    u->fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    u->addr = malloc(sizeof(struct sockaddr_storage));
    int rc = 0;
    if (u->fd < 0 || !u->addr) {
        rc = mvla_fail(MVLA_ERR_IO, "--udp %s: cannot open a socket", host_port);
    } else {
        memcpy(u->addr, res->ai_addr, res->ai_addrlen);
        u->addr_len = (unsigned)res->ai_addrlen;
    }
    freeaddrinfo(res);
    if (rc) udp_sink_close(u);
    return rc;
}

void udp_sink_close(UdpSink *u)
{
    if (u->fd >= 0) close(u->fd);
    free(u->addr);
    u->fd = -1;
    u->addr = NULL;
}

static int put(char *buf, size_t size, size_t *len, const char *fmt, double v)
{
    int n = snprintf(buf + *len, size - *len, fmt, v);
    if (n < 0 || (size_t)n >= size - *len) return -1;
    *len += (size_t)n;
    return 0;
}

static int put_str(char *buf, size_t size, size_t *len, const char *s)
{
    int n = snprintf(buf + *len, size - *len, "%s", s);
    if (n < 0 || (size_t)n >= size - *len) return -1;
    *len += (size_t)n;
    return 0;
}

/* JSON has no NaN: the safety layer removes them from the action, but a raw chunk may hold one (null). */
static int put_num(char *buf, size_t size, size_t *len, const char *sep, double v)
{
    if (put_str(buf, size, len, sep)) return -1;
    return isfinite(v) ? put(buf, size, len, "%.9g", v) : put_str(buf, size, len, "null");
}

int run_format_line(char *buf, size_t size, long step, double t, double latency_ms, const float action[3],
                    const float *chunk, int k, const char *stopped_reason)
{
    size_t len = 0;
    int bad = put(buf, size, &len, "{\"step\": %.0f", (double)step) || put(buf, size, &len, ", \"t\": %.6f", t) ||
              put(buf, size, &len, ", \"latency_ms\": %.4f", latency_ms) || put_str(buf, size, &len, ", \"action\": [");
    for (int i = 0; i < 3 && !bad; i++) bad = put_num(buf, size, &len, i ? ", " : "", action[i]);
    if (!bad) bad = put_str(buf, size, &len, "]");
    if (!bad && chunk) {
        bad = put_str(buf, size, &len, ", \"chunk\": [");
        for (int i = 0; i < 3 * k && !bad; i++) bad = put_num(buf, size, &len, i ? ", " : "", chunk[i]);
        if (!bad) bad = put_str(buf, size, &len, "]");
    }
    if (!bad && stopped_reason)
        bad = put_str(buf, size, &len, ", \"stopped_reason\": \"") || put_str(buf, size, &len, stopped_reason) ||
              put_str(buf, size, &len, "\"");
    if (!bad) bad = put_str(buf, size, &len, "}\n");
    return bad ? -1 : (int)len;
}

/* The stall watchdog's line: a stop action without a model step. */
static int stall_line(char *buf, size_t size, long step, double t, double stall_ms)
{
    const float zero[3] = {0, 0, 0};
    int n = run_format_line(buf, size, step, t, 0, zero, NULL, 0, "stale_source");
    if (n < 2) return -1;
    size_t len = (size_t)n - 2; /* drop "}\n" */
    if (put(buf, size, &len, ", \"stall_ms\": %.3f", stall_ms) || put_str(buf, size, &len, "}\n")) return -1;
    return (int)len;
}

int run_loop(mvla_model *m, FrameSource *src, const RunOptions *o, FILE *out, UdpSink *udp)
{
    int k = mvla_chunk_size(m);
    float *chunk = malloc((size_t)k * 3 * sizeof(float));
    size_t cap = 256 + (size_t)k * 3 * 24;
    char *line = malloc(cap);
    int rc = chunk && line ? 0 : mvla_fail(MVLA_ERR_NOMEM, "run: out of memory");
    double start = now_s(), last_frame = start;
    for (long step = 0; !rc && (o->max_steps <= 0 || step < o->max_steps); step++) {
        const uint8_t *px;
        int w, h, order, n;
        double t, t0 = now_s();
        int got = frame_source_wait(src, o->safety.timeout_s, &px, &w, &h, &order, &t);
        if (got < 0) rc = -got;
        if (got <= 0) break;
        double t1 = now_s();
        if (got == FRAME_SOURCE_TIMEOUT) {
            n = stall_line(line, cap, step, t1 - start, (t1 - last_frame) * 1e3);
        } else {
            last_frame = t1;
            float action[3];
            if ((rc = mvla_step(m, px, w, h, order, action, chunk))) break;
            /* A source that waits gave up at the timeout if the frame was late; a blocking read's
             * duration is the frame's age. */
            double age = src->ops && src->ops->waits ? 0 : t1 - t0;
            const char *reason = safety_apply(&o->safety, action, age);
            if (!reason && o->max_steps > 0 && step + 1 == o->max_steps) reason = "max_steps";
            n = run_format_line(line, cap, step, t, (now_s() - t1) * 1e3, action, chunk, k, reason);
        }
        if (n < 0) {
            rc = mvla_fail(MVLA_ERR_NOMEM, "run: step %ld: the output line does not fit", step);
            break;
        }
        if (fwrite(line, 1, (size_t)n, out) != (size_t)n || fflush(out) != 0) {
            rc = mvla_fail(MVLA_ERR_IO, "run: cannot write the output");
            break;
        }
        if (udp && udp->fd >= 0)
            sendto(udp->fd, line, (size_t)n, 0, (const struct sockaddr *)udp->addr, (socklen_t)udp->addr_len);
    }
    free(chunk);
    free(line);
    return rc;
}
