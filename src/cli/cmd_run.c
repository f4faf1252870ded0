/* mvla run MODEL --source SRC [...]: runs a model file on a frame source and prints one JSON line per
 * step (runtime/run_loop.h), through the safety layer (runtime/safety.h). */
#include "cli/commands_runtime.h"

#include "base/error.h"
#include "data/preprocess.h"
#include "runtime/run_loop.h"
#include "runtime/v4l2_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_usage(FILE *fp)
{
    fprintf(fp, "usage: mvla run MODEL --source SRC [options]\n"
                "  MODEL               a model file written by `mvla export`\n"
                "  --source SRC        an episode .h5 (its frames replayed), a folder of PNG/JPEG images\n"
                "                      (sorted by name), or a V4L2 camera /dev/videoN (libv4l2, BGR)\n"
                "  --camera-size WxH   the camera's capture size (default 640x480; the driver picks the nearest)\n"
                "  --instruction TEXT  (default: the episode's instruction, else the model's default)\n"
                "  --max-steps N       stop after N steps\n"
                "  --clamp             clamp actions to the model's limits\n"
                "  --dead-zone X       zero any axis with |value| < X\n"
                "  --stall-timeout T   stall watchdog: when no new frame arrives within T ms, print a zero (stop)\n"
                "                      action with \"stopped_reason\": \"stale_source\" (again every T ms until\n"
                "                      frames resume); --timeout-ms is the same\n"
                "  --udp HOST:PORT     also send each JSON line as a UDP datagram\n"
                "output: one JSON line per step: {\"step\", \"t\", \"latency_ms\", \"action\", \"chunk\", "
                "\"stopped_reason\"?}\n");
}

static int parse_double(const char *opt, const char *s, double lo, double *out)
{
    char *end;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || !isfinite(v) || v < lo) {
        fprintf(stderr, "mvla: run: %s %s: expected a number >= %g\n", opt, s ? s : "(missing)", lo);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *source = NULL, *instruction = NULL, *udp_addr = NULL;
    int cam_w = V4L2_SOURCE_DEFAULT_WIDTH, cam_h = V4L2_SOURCE_DEFAULT_HEIGHT;
    RunOptions o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--clamp")) {
            o.safety.clamp = 1;
        } else if (!strcmp(a, "--source") || !strcmp(a, "--instruction") || !strcmp(a, "--udp")) {
            if (!v) {
                fprintf(stderr, "mvla: run: %s needs a value\n", a);
                return 2;
            }
            *(!strcmp(a, "--source") ? &source : !strcmp(a, "--udp") ? &udp_addr : &instruction) = v;
            i++;
        } else if (!strcmp(a, "--max-steps")) {
            if (parse_double(a, v, 1, &d) || d != floor(d)) return 2;
            o.max_steps = (long)d, i++;
        } else if (!strcmp(a, "--dead-zone")) {
            if (parse_double(a, v, 0, &d)) return 2;
            o.safety.dead_zone = (float)d, i++;
        } else if (!strcmp(a, "--camera-size")) {
            if (!v || preprocess_parse_size(v, &cam_w, &cam_h)) {
                fprintf(stderr, "mvla: run: --camera-size %s: expected WxH, e.g. 640x480\n", v ? v : "(missing)");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--stall-timeout") || !strcmp(a, "--timeout-ms")) {
            if (parse_double(a, v, 0, &d)) return 2;
            o.safety.timeout_s = d / 1e3, i++;
        } else if (a[0] == '-' || model) {
            fprintf(stderr, "mvla: run: unexpected argument \"%s\"\n", a);
            run_usage(stderr);
            return 2;
        } else {
            model = a;
        }
    }
    if (!model || !source) {
        run_usage(stderr);
        return 2;
    }
    mvla_model *m = NULL;
    FrameSource *src = NULL;
    UdpSink udp = {.fd = -1};
    int rc = mvla_open(&m, model, NULL);
    if (!rc)
        rc = v4l2_source_is_camera(source) ? v4l2_source_open(&src, source, cam_w, cam_h)
                                           : frame_source_open(&src, source);
    if (!rc && udp_addr) rc = udp_sink_open(&udp, udp_addr);
    if (!rc) {
        const char *text = instruction ? instruction : frame_source_instruction(src);
        rc = mvla_set_instruction(m, text);
    }
    if (!rc) {
        mvla_action_limits(m, o.safety.limits);
        rc = run_loop(m, src, &o, stdout, udp_addr ? &udp : NULL);
    }
    if (rc) fprintf(stderr, "mvla: %s\n", mvla_error_message());
    udp_sink_close(&udp);
    frame_source_close(src);
    mvla_close(m);
    return rc ? 1 : 0;
}
