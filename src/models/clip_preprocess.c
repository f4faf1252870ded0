/* CLIP image preprocessing (clip_preprocess.h): Pillow-exact fixed-point resampling, torchvision's
 * resize/crop geometry, float32 normalisation, and the JSON form of the parameters.
 * Only the pixels that survive the centre crop are computed; each output pixel depends on its own
 * filter taps only, so this equals resizing the whole image and cropping afterwards. */
#include "models/clip_preprocess.h"

#include "base/error.h"
#include "tensor/parallel.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22 /* Pillow: 32 - 8 - 2 */

void clip_preprocess_default(ClipPreprocess *p, int size)
{
    /* Written as doubles then rounded, like Python floats becoming a float32 tensor. */
    static const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
    static const double std[3] = {0.26862954, 0.26130258, 0.27577711};
    memset(p, 0, sizeof *p);
    p->resize = p->crop_height = p->crop_width = size;
    for (int c = 0; c < 3; c++) p->mean[c] = (float)mean[c], p->std[c] = (float)std[c];
    p->resample = CLIP_RESAMPLE_BICUBIC;
    p->channel_order = CLIP_RGB;
}

const char *clip_resample_name(ClipResample r) { return r == CLIP_RESAMPLE_BILINEAR ? "bilinear" : "bicubic"; }
const char *clip_channel_order_name(ClipChannelOrder c) { return c == CLIP_BGR ? "bgr" : "rgb"; }

int clip_preprocess_validate(const ClipPreprocess *p)
{
    if (p->resize < 0 || p->resize > CLIP_PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: resize %d: expected 0 (none) to %d", p->resize, CLIP_PREPROCESS_MAX_SIDE);
    if (p->crop_height < 1 || p->crop_height > CLIP_PREPROCESS_MAX_SIDE || p->crop_width < 1 ||
        p->crop_width > CLIP_PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: crop %dx%d (height x width): expected each side in 1..%d",
                         p->crop_height, p->crop_width, CLIP_PREPROCESS_MAX_SIDE);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c])) return mvla_fail(MVLA_ERR_ARG, "preprocess: mean[%d]: expected a finite number", c);
        if (!isfinite(p->std[c]) || !(p->std[c] > 0))
            return mvla_fail(MVLA_ERR_ARG, "preprocess: std[%d] = %g: expected a finite number > 0", c, p->std[c]);
    }
    if (p->resample != CLIP_RESAMPLE_BICUBIC && p->resample != CLIP_RESAMPLE_BILINEAR)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: resample %d: expected bicubic or bilinear", (int)p->resample);
    if (p->channel_order != CLIP_RGB && p->channel_order != CLIP_BGR)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: channel_order %d: expected rgb or bgr", (int)p->channel_order);
    return 0;
}

void clip_resized_size(const ClipPreprocess *p, int width, int height, int *out_width, int *out_height)
{
    if (p->resize == 0 || width <= 0 || height <= 0) {
        *out_width = width, *out_height = height;
        return;
    }
    long long s = width <= height ? width : height, l = width <= height ? height : width;
    long long nl = (long long)p->resize * l / s; /* = Python's int(size * long / short) */
    int new_long = nl > 0x7fffffff ? 0x7fffffff : (int)nl;
    if (width <= height) *out_width = p->resize, *out_height = new_long;
    else *out_width = new_long, *out_height = p->resize;
}

/* ---------------------------------------------------------------- Pillow's resampling */

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double bilinear_filter(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Filter taps of output indices [o0, o1) of one axis: first source index, tap count, and ksize
 * fixed-point weights per output index. */
typedef struct {
    int *first, *count;
    int32_t *k;
    int ksize;
} Taps;

static void taps_free(Taps *t)
{
    free(t->first), free(t->count), free(t->k);
}

static int taps_compute(int in_size, int out_size, int o0, int o1, ClipResample r, Taps *t)
{
    double (*filter)(double) = r == CLIP_RESAMPLE_BILINEAR ? bilinear_filter : bicubic_filter;
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = (r == CLIP_RESAMPLE_BILINEAR ? 1.0 : 2.0) * filterscale, ss = 1.0 / filterscale;
    int n = o1 - o0;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)n * sizeof(int));
    t->count = malloc((size_t)n * sizeof(int));
    t->k = calloc((size_t)n * (size_t)t->ksize, sizeof(int32_t));
    double *w = malloc((size_t)t->ksize * sizeof(double));
    int bad = 0;
    if (!t->first || !t->count || !t->k || !w) {
        free(w), taps_free(t);
        return mvla_fail(MVLA_ERR_NOMEM, "preprocess: out of memory for resampling weights");
    }
    for (int o = o0; o < o1; o++) {
        double center = (o + 0.5) * scale, sum = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = t->k + (size_t)(o - o0) * (size_t)t->ksize;
        int64_t abs_sum = 0;
        for (int x = 0; x < xmax; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            abs_sum += k[x] < 0 ? -(int64_t)k[x] : k[x];
        }
        /* 32-bit accumulation, as Pillow does, cannot overflow while 2^21 + 255 * sum|k| < 2^31
         * (sum |w| < 2; about 1.2 at most for these kernels). */
        if (abs_sum >= (int64_t)2 << PRECISION_BITS) bad = 1;
        t->first[o - o0] = xmin, t->count[o - o0] = xmax;
    }
    free(w);
    if (bad) {
        taps_free(t);
        return mvla_fail(MVLA_ERR_UNSUPPORTED, "preprocess: resampling %d -> %d: filter weights too large for "
                         "32-bit fixed point", in_size, out_size);
    }
    return 0;
}

static uint8_t clip8(int32_t acc)
{
    if (acc < 0) return 0;
    acc >>= PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* The window [x0, x0+ww) x [y0, y0+wh) of src (w x h x C) resized to ow x oh, into dst (wh x ww x C).
 * Like Pillow, a pass is skipped when its axis keeps its size (it would be the identity). */
static int resize_window(const uint8_t *src, int w, int h, int C, int ow, int oh, ClipResample r, int x0, int y0,
                         int ww, int wh, uint8_t *dst)
{
    int need_h = ow != w, need_v = oh != h, rc = 0;
    Taps th = {0}, tv = {0};
    if (need_h && (rc = taps_compute(w, ow, x0, x0 + ww, r, &th))) return rc;
    if (need_v && (rc = taps_compute(h, oh, y0, y0 + wh, r, &tv))) {
        taps_free(&th);
        return rc;
    }
    /* Source rows the vertical pass reads. */
    int r0 = y0, r1 = y0 + wh;
    if (need_v) {
        r0 = tv.first[0], r1 = 0;
        for (int i = 0; i < wh; i++) {
            if (tv.first[i] < r0) r0 = tv.first[i];
            if (tv.first[i] + tv.count[i] > r1) r1 = tv.first[i] + tv.count[i];
        }
    }
    int rows = r1 - r0;
    uint8_t *tmp = malloc((size_t)rows * (size_t)ww * (size_t)C);
    if (!tmp) {
        taps_free(&th), taps_free(&tv);
        return mvla_fail(MVLA_ERR_NOMEM, "preprocess: out of memory for a %dx%d resampling buffer", ww, rows);
    }
    long work_h = (long)rows * ww * C * (need_h ? th.ksize : 1);
#pragma omp parallel for schedule(static) if (work_h > PAR_MIN_WORK)
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y + r0) * (size_t)w * (size_t)C;
        uint8_t *out = tmp + (size_t)y * (size_t)ww * (size_t)C;
        if (!need_h) {
            memcpy(out, in + (size_t)x0 * (size_t)C, (size_t)ww * (size_t)C);
            continue;
        }
        for (int x = 0; x < ww; x++) {
            const int32_t *k = th.k + (size_t)x * (size_t)th.ksize;
            const uint8_t *px = in + (size_t)th.first[x] * (size_t)C;
            int32_t acc[4] = {0, 0, 0, 0};
            if (C == 3) { /* the common case, unrolled */
                for (int j = 0; j < th.count[x]; j++)
                    acc[0] += px[3 * j] * k[j], acc[1] += px[3 * j + 1] * k[j], acc[2] += px[3 * j + 2] * k[j];
            } else {
                for (int j = 0; j < th.count[x]; j++)
                    for (int c = 0; c < C; c++) acc[c] += px[(size_t)j * (size_t)C + (size_t)c] * k[j];
            }
            for (int c = 0; c < C; c++) out[(size_t)x * (size_t)C + (size_t)c] = clip8(acc[c] + (1 << (PRECISION_BITS - 1)));
        }
    }
    long work_v = (long)wh * ww * C * (need_v ? tv.ksize : 1);
    size_t row_bytes = (size_t)ww * (size_t)C;
    /* one row of accumulators per thread */
    int32_t *accs = malloc((size_t)omp_get_max_threads() * row_bytes * sizeof *accs);
    if (!accs) {
        free(tmp), taps_free(&th), taps_free(&tv);
        return mvla_fail(MVLA_ERR_NOMEM, "preprocess: out of memory for a %dx%d resampling buffer", ww, wh);
    }
#pragma omp parallel for schedule(static) if (work_v > PAR_MIN_WORK)
    for (int y = 0; y < wh; y++) {
        uint8_t *out = dst + (size_t)y * row_bytes;
        if (!need_v) {
            memcpy(out, tmp + (size_t)(y + y0 - r0) * row_bytes, row_bytes);
            continue;
        }
        const int32_t *k = tv.k + (size_t)y * (size_t)tv.ksize;
        const uint8_t *in = tmp + (size_t)(tv.first[y] - r0) * row_bytes;
        int32_t *acc = accs + (size_t)omp_get_thread_num() * row_bytes;
        for (size_t i = 0; i < row_bytes; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int j = 0; j < tv.count[y]; j++) {
            const uint8_t *row = in + (size_t)j * row_bytes;
            for (size_t i = 0; i < row_bytes; i++) acc[i] += row[i] * k[j];
        }
        for (size_t i = 0; i < row_bytes; i++) out[i] = clip8(acc[i]);
    }
    free(tmp), free(accs);
    taps_free(&th), taps_free(&tv);
    return 0;
}

static int check_image(int w, int h, const char *what)
{
    if (w < 1 || h < 1 || w > CLIP_PREPROCESS_MAX_SIDE || h > CLIP_PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: %s size %dx%d: expected each side in 1..%d", what, w, h,
                         CLIP_PREPROCESS_MAX_SIDE);
    return 0;
}

int clip_resize_u8(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int out_w, int out_h,
                   ClipResample resample)
{
    int rc = check_image(w, h, "input");
    if (!rc) rc = check_image(out_w, out_h, "output");
    if (rc) return rc;
    if (!src || !dst) return mvla_fail(MVLA_ERR_ARG, "preprocess: source or destination buffer is NULL");
    if (channels < 1 || channels > 4)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: %d channels: expected 1 to 4", channels);
    if (resample != CLIP_RESAMPLE_BICUBIC && resample != CLIP_RESAMPLE_BILINEAR)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: resample %d: expected bicubic or bilinear", (int)resample);
    return resize_window(src, w, h, channels, out_w, out_h, resample, 0, 0, out_w, out_h, dst);
}

/* torchvision center_crop offset on one axis: round-half-to-even of (size - crop) / 2, or, when the
 * crop is larger, minus the left/top zero padding (crop - size) // 2. */
static int crop_offset(int size, int crop)
{
    if (crop > size) return -((crop - size) / 2);
    int d = size - crop, half = d / 2;
    return (d % 2 == 1 && half % 2 == 1) ? half + 1 : half;
}

int clip_preprocess_image(const ClipPreprocess *p, const uint8_t *img, int width, int height, ClipChannelOrder order,
                          float *out)
{
    int rc = clip_preprocess_validate(p);
    if (!rc) rc = check_image(width, height, "image");
    if (rc) return rc;
    if (order != CLIP_RGB && order != CLIP_BGR)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: image channel order %d: expected rgb or bgr", (int)order);
    if (!img || !out) return mvla_fail(MVLA_ERR_ARG, "preprocess: image or output buffer is NULL");
    int ow, oh;
    clip_resized_size(p, width, height, &ow, &oh);
    int ch = p->crop_height, cw = p->crop_width;
    int ox = crop_offset(ow, cw), oy = crop_offset(oh, ch);
    /* Part of the crop inside the resized image; the rest is zero padding. */
    int x0 = ox > 0 ? ox : 0, y0 = oy > 0 ? oy : 0;
    int x1 = ox + cw < ow ? ox + cw : ow, y1 = oy + ch < oh ? oy + ch : oh;
    int ww = x1 - x0, wh = y1 - y0;
    uint8_t *win = malloc((size_t)ww * (size_t)wh * 3);
    if (!win) return mvla_fail(MVLA_ERR_NOMEM, "preprocess: out of memory for a %dx%d crop", cw, ch);
    rc = resize_window(img, width, height, 3, ow, oh, p->resample, x0, y0, ww, wh, win);
    if (rc) {
        free(win);
        return rc;
    }
    /* ToTensor then Normalize, in float32 as torch does: ((u8 / 255) - mean) / std. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - p->mean[c]) / p->std[c];
    size_t plane = (size_t)ch * (size_t)cw;
#pragma omp parallel for schedule(static) if ((long)plane * 3 > PAR_MIN_WORK)
    for (int y = 0; y < ch; y++) {
        for (int c = 0; c < 3; c++) {
            int src_c = order == p->channel_order ? c : 2 - c;
            float *o = out + (size_t)c * plane + (size_t)y * (size_t)cw;
            int ry = y + oy;
            for (int x = 0; x < cw; x++) {
                int rx = x + ox;
                int inside = ry >= y0 && ry < y1 && rx >= x0 && rx < x1;
                uint8_t v = inside ? win[((size_t)(ry - y0) * (size_t)ww + (size_t)(rx - x0)) * 3 + (size_t)src_c] : 0;
                o[x] = lut[c][v];
            }
        }
    }
    free(win);
    return 0;
}

/* ---------------------------------------------------------------- JSON */

json_t *clip_preprocess_to_json(const ClipPreprocess *p)
{
    return json_pack("{s:i, s:i, s:i, s:[f,f,f], s:[f,f,f], s:s, s:s}", "resize", p->resize, "crop_height",
                     p->crop_height, "crop_width", p->crop_width, "mean", (double)p->mean[0], (double)p->mean[1],
                     (double)p->mean[2], "std", (double)p->std[0], (double)p->std[1], (double)p->std[2], "resample",
                     clip_resample_name(p->resample), "channel_order", clip_channel_order_name(p->channel_order));
}

char *clip_preprocess_to_json_string(const ClipPreprocess *p)
{
    json_t *j = clip_preprocess_to_json(p);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static int get_int(const json_t *obj, const char *where, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > CLIP_PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: field \"%s\": expected an integer in 0..%d", where, key,
                         CLIP_PREPROCESS_MAX_SIDE);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_triple(const json_t *obj, const char *where, const char *key, float out[3])
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v) || json_array_size(v) != 3)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: field \"%s\": expected an array of 3 numbers", where, key);
    for (int c = 0; c < 3; c++) {
        json_t *e = json_array_get(v, (size_t)c);
        if (!json_is_number(e))
            return mvla_fail(MVLA_ERR_FORMAT, "%s: field \"%s\"[%d]: expected a number", where, key, c);
        out[c] = (float)json_number_value(e);
    }
    return 0;
}

static int get_choice(const json_t *obj, const char *where, const char *key, const char *a, const char *b, int *out)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s && strcmp(s, a) == 0) *out = 0;
    else if (s && strcmp(s, b) == 0) *out = 1;
    else return mvla_fail(MVLA_ERR_FORMAT, "%s: field \"%s\": expected \"%s\" or \"%s\"", where, key, a, b);
    return 0;
}

int clip_preprocess_from_json(const json_t *obj, const char *where, ClipPreprocess *p)
{
    ClipPreprocess q;
    memset(&q, 0, sizeof q);
    if (!json_is_object(obj)) return mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object", where);
    int resample = 0, order = 0;
    int rc = get_int(obj, where, "resize", &q.resize);
    if (!rc) rc = get_int(obj, where, "crop_height", &q.crop_height);
    if (!rc) rc = get_int(obj, where, "crop_width", &q.crop_width);
    if (!rc) rc = get_triple(obj, where, "mean", q.mean);
    if (!rc) rc = get_triple(obj, where, "std", q.std);
    if (!rc) rc = get_choice(obj, where, "resample", "bicubic", "bilinear", &resample);
    if (!rc) rc = get_choice(obj, where, "channel_order", "rgb", "bgr", &order);
    if (rc) return rc;
    q.resample = resample ? CLIP_RESAMPLE_BILINEAR : CLIP_RESAMPLE_BICUBIC;
    q.channel_order = order ? CLIP_BGR : CLIP_RGB;
    if (clip_preprocess_validate(&q)) return mvla_fail(MVLA_ERR_FORMAT, "%s: %s", where, mvla_error_message());
    *p = q;
    return 0;
}

int clip_preprocess_from_json_string(const char *text, const char *where, ClipPreprocess *p)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j) return mvla_fail(MVLA_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", where, err.line, err.column, err.text);
    int rc = clip_preprocess_from_json(j, where, p);
    json_decref(j);
    return rc;
}
