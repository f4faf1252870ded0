/* `mvla run`'s frame sources: the stall watchdog (a source that delivers no new frame in time gives
 * zero actions saying "stale_source", then the loop goes on when frames resume), a model whose output
 * is NaN through the whole loop, and the V4L2 camera source's errors (no camera here: a missing
 * device, /dev/null, a regular file). */
#include "test.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "runtime/run_loop.h"
#include "runtime/v4l2_source.h"

#include <jansson.h>
#include <mvla.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FW 40
#define FH 30

static void model_path(char *buf, size_t n)
{
    const char *dir = getenv("MVLA_REF_DIR");
    snprintf(buf, n, "%s/student_policy_film_lstm.safetensors", dir ? dir : "tests/ref");
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A fake camera: frame i becomes available at start + at[i]. honour: like a camera thread, give up
 * after the timeout (FRAME_SOURCE_TIMEOUT); otherwise block until the frame is there (a slow file). */
typedef struct {
    const double *at;
    int n, next, honour;
    double start;
    uint8_t px[FW * FH * 3];
} FakeSource;

static int fake_next(void *ctx, double timeout_s, const uint8_t **pixels, int *width, int *height, int *order,
                     double *t)
{
    FakeSource *f = ctx;
    if (f->next >= f->n) return 0;
    double wait = f->start + f->at[f->next] - mono();
    if (f->honour && timeout_s > 0 && wait > timeout_s) {
        sleep_s(timeout_s);
        return FRAME_SOURCE_TIMEOUT;
    }
    sleep_s(wait);
    for (int i = 0; i < FW * FH * 3; i++) f->px[i] = (uint8_t)(i * 7 + f->next * 31);
    *pixels = f->px, *width = FW, *height = FH, *order = MVLA_BGR;
    *t = f->at[f->next++];
    return 1;
}

static void fake_close(void *ctx) { free(ctx); }

static const FrameSourceOps fake_camera_ops = {fake_next, fake_close, 1}, fake_file_ops = {fake_next, fake_close, 0};

/* Runs the loop over a fake source with the model file at path (NULL: the reference model); returns
 * the output lines as parsed JSON (array). */
static json_t *run_fake_model(const char *model, const double *at, int n, int honour, double timeout_s, int *rc)
{
    char path[1024];
    model_path(path, sizeof path);
    if (model) snprintf(path, sizeof path, "%s", model);
    mvla_model *m = NULL;
    *rc = mvla_open(&m, path, NULL);
    if (*rc) return NULL;
    FakeSource *f = calloc(1, sizeof *f);
    f->at = at, f->n = n, f->honour = honour, f->start = mono();
    FrameSource *src = NULL;
    if ((*rc = frame_source_from_ops(&src, honour ? &fake_camera_ops : &fake_file_ops, f))) {
        mvla_close(m);
        return NULL;
    }
    RunOptions o;
    memset(&o, 0, sizeof o);
    o.safety.timeout_s = timeout_s;
    mvla_action_limits(m, o.safety.limits);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    *rc = run_loop(m, src, &o, fp, NULL);
    fclose(fp);
    frame_source_close(src);
    mvla_close(m);
    json_t *lines = json_array();
    for (char *s = buf, *nl; s && *s; s = nl + 1) {
        if (!(nl = strchr(s, '\n'))) break;
        *nl = 0;
        json_t *j = json_loads(s, 0, NULL);
        if (!j) test_fail(__FILE__, __LINE__, "not a JSON line: %s", s);
        else json_array_append_new(lines, j);
    }
    free(buf);
    return lines;
}

static json_t *run_fake(const double *at, int n, int honour, double timeout_s, int *rc)
{
    return run_fake_model(NULL, at, n, honour, timeout_s, rc);
}

static int is_stall(json_t *line)
{
    json_t *r = json_object_get(line, "stopped_reason");
    return r && !strcmp(json_string_value(r), "stale_source");
}

static int zero_action(json_t *line)
{
    json_t *a = json_object_get(line, "action");
    for (int i = 0; i < 3; i++)
        if (json_number_value(json_array_get(a, (size_t)i)) != 0) return 0;
    return json_array_size(a) == 3;
}

TEST(run_stall_watchdog_stops_then_resumes)
{
    /* Two frames at once, then the camera stalls for 0.3 s (timeout 0.06 s), then two more. */
    const double at[] = {0, 0, 0.3, 0.3};
    int rc;
    json_t *lines = run_fake(at, 4, 1, 0.06, &rc);
    REQUIRE(rc == 0 && lines);
    int n = (int)json_array_size(lines), frames = 0, stalls = 0, resumed = 0;
    for (int i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, (size_t)i);
        CHECK(json_integer_value(json_object_get(l, "step")) == i);
        if (is_stall(l)) {
            stalls++;
            CHECK_MSG(frames == 2, "a stall line before the stall, at line %d", i);
            CHECK(zero_action(l));
            CHECK(json_object_get(l, "chunk") == NULL);   /* the model did not run */
            double ms = json_number_value(json_object_get(l, "stall_ms"));
            CHECK_MSG(ms >= 50 && ms < 1000, "stall_ms %g", ms);
        } else {
            frames++;
            CHECK(json_array_size(json_object_get(l, "chunk")) == 6);
            if (stalls) resumed = 1;
        }
    }
    CHECK_MSG(frames == 4, "%d frame lines for 4 frames", frames);
    CHECK_MSG(stalls >= 2 && stalls <= 6, "%d stall lines for a 0.3 s stall at a 0.06 s timeout", stalls);
    CHECK(resumed);
    /* the stall lines' stall_ms grows */
    double prev = 0;
    for (int i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, (size_t)i);
        if (!is_stall(l)) continue;
        double ms = json_number_value(json_object_get(l, "stall_ms"));
        CHECK(ms > prev);
        prev = ms;
    }
    json_decref(lines);
}

TEST(run_slow_synchronous_source_gives_zero_action)
{
    /* A source that blocks (like a slow file read) for 0.15 s past a 0.05 s timeout: that frame's
     * action is zeroed (stale), the others are not. */
    const double at[] = {0, 0.15, 0.15};
    int rc;
    json_t *lines = run_fake(at, 3, 0, 0.05, &rc);
    REQUIRE(rc == 0 && lines);
    REQUIRE(json_array_size(lines) == 3);
    CHECK(!is_stall(json_array_get(lines, 0)) && !is_stall(json_array_get(lines, 2)));
    json_t *l = json_array_get(lines, 1);
    CHECK(is_stall(l) && zero_action(l));
    CHECK(json_array_size(json_object_get(l, "chunk")) == 6);   /* the model ran; its action was dropped */
    json_decref(lines);
    /* Without a timeout nothing is stale. */
    lines = run_fake(at, 3, 0, 0, &rc);
    REQUIRE(rc == 0 && lines);
    for (size_t i = 0; i < json_array_size(lines); i++) CHECK(!is_stall(json_array_get(lines, i)));
    json_decref(lines);
}

TEST(run_nan_output_gives_zero_action)
{
    /* The reference model with NaN in the output layer's bias: every action is NaN before safety. */
    char src[1024], dst[1024];
    model_path(src, sizeof src);
    snprintf(dst, sizeof dst, "%s/nan.safetensors", test_tmpdir());
    SafeTensors *st;
    REQUIRE(st_open(&st, src) == 0);
    StWriter *w = st_writer_new();
    int rc = 0;
    for (int i = 0; i < st_count(st) && !rc; i++) {
        const StTensor *t = st_at(st, i);
        if (strcmp(t->name, "out.bias") != 0) {
            rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
            continue;
        }
        float nan[64];
        REQUIRE(t->shape[0] <= 64);
        for (int k = 0; k < 64; k++) nan[k] = NAN;
        rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, nan);
    }
    if (!rc) rc = st_writer_set_metadata(w, "mvla.model", st_metadata(st, "mvla.model"));
    if (!rc) rc = st_writer_save(w, dst);
    st_writer_free(w);
    st_close(st);
    REQUIRE(rc == 0);
    const double at[] = {0, 0, 0};
    json_t *lines = run_fake_model(dst, at, 3, 1, 0.5, &rc);
    REQUIRE(rc == 0 && lines);
    CHECK(json_array_size(lines) == 3);
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i), *r = json_object_get(l, "stopped_reason");
        CHECK(r && !strcmp(json_string_value(r), "nonfinite_output"));
        CHECK(zero_action(l));
        CHECK(json_is_null(json_array_get(json_object_get(l, "chunk"), 0)));  /* NaN has no JSON: null */
    }
    json_decref(lines);
}

TEST(run_v4l2_errors)
{
    FrameSource *s = (FrameSource *)1;
    CHECK(v4l2_source_is_camera("/dev/video0") && v4l2_source_is_camera("/dev/null"));
    CHECK(!v4l2_source_is_camera("tests/ref") && !v4l2_source_is_camera("/nonexistent"));
    CHECK(v4l2_source_open(&s, "/dev/video99", 640, 480) == MVLA_ERR_IO && s == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "/dev/video99: cannot open the camera") != NULL, "%s", mvla_error_message());
    /* a character device that is not a camera */
    CHECK(frame_source_open(&s, "/dev/null") == MVLA_ERR_ARG && s == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "/dev/null: not a V4L2 video device") != NULL, "%s", mvla_error_message());
    /* a regular file */
    char path[1024];
    model_path(path, sizeof path);
    CHECK(v4l2_source_open(&s, path, 640, 480) == MVLA_ERR_ARG && s == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "not a V4L2 video device") != NULL, "%s", mvla_error_message());
    CHECK(v4l2_source_open(&s, "/dev/video99", 0, 480) == MVLA_ERR_ARG);
}

TEST(run_cli_camera_errors)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) {
        fprintf(stderr, "(skipped: MVLA_BIN not set) ");
        return;
    }
    char cmd[4096], path[1024], *out = NULL;
    model_path(path, sizeof path);
    snprintf(cmd, sizeof cmd, "%s run '%s' --source /dev/video99 2>&1", bin, path);
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "/dev/video99: cannot open the camera") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s run '%s' --source /dev/null --stall-timeout 100 2>&1", bin, path);
    CHECK(test_run_capture(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "not a V4L2 video device") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s run '%s' --source /dev/video0 --camera-size 640 2>&1", bin, path);
    CHECK(test_run_capture(cmd, &out) == 2);
    CHECK(strstr(out, "--camera-size") != NULL);
    free(out);
}
