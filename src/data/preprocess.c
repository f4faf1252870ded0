/* Frame preprocessing with stb_image_resize: crop or pad to the target aspect, resize, BGR -> RGB. */
#include "data/preprocess.h"

#include "base/error.h"

#include <stb_image_resize.h>
#include <stdlib.h>
#include <string.h>

void preprocess_default(Preprocess *p)
{
    p->width = PREPROCESS_DEFAULT_WIDTH;
    p->height = PREPROCESS_DEFAULT_HEIGHT;
    p->crop = CROP_STRETCH;
    p->filter = FILTER_AREA;
}

static const char *const crop_names[] = {"stretch", "center_crop", "pad"};
static const char *const filter_names[] = {"area", "bicubic"};

const char *crop_name(CropPolicy c) { return (unsigned)c < 3 ? crop_names[c] : "?"; }
const char *filter_name(ResizeFilter f) { return (unsigned)f < 2 ? filter_names[f] : "?"; }

int crop_parse(const char *s, CropPolicy *out)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, crop_names[i]) == 0) {
            *out = (CropPolicy)i;
            return MVLA_OK;
        }
    return mvla_fail(MVLA_ERR_ARG, "crop policy '%s': expected stretch, center_crop or pad", s ? s : "");
}

int filter_parse(const char *s, ResizeFilter *out)
{
    for (int i = 0; i < 2; i++)
        if (s && strcmp(s, filter_names[i]) == 0) {
            *out = (ResizeFilter)i;
            return MVLA_OK;
        }
    return mvla_fail(MVLA_ERR_ARG, "resize filter '%s': expected area or bicubic", s ? s : "");
}

int preprocess_parse_size(const char *s, int *width, int *height)
{
    char *end;
    long w = s ? strtol(s, &end, 10) : 0;
    long h = 0;
    if (s && end != s && (*end == 'x' || *end == 'X')) {
        const char *hs = end + 1;
        h = strtol(hs, &end, 10);
        if (end == hs || *end) h = 0;
    }
    if (w < 1 || h < 1 || w > PREPROCESS_MAX_SIDE || h > PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "size '%s': expected WxH with each side in 1..%d, e.g. 128x72", s ? s : "",
                         PREPROCESS_MAX_SIDE);
    *width = (int)w;
    *height = (int)h;
    return MVLA_OK;
}

int preprocess_validate(const Preprocess *p)
{
    if (p->width < 1 || p->height < 1 || p->width > PREPROCESS_MAX_SIDE || p->height > PREPROCESS_MAX_SIDE)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: size %dx%d: expected each side in 1..%d", p->width, p->height,
                         PREPROCESS_MAX_SIDE);
    if ((unsigned)p->crop > CROP_PAD) return mvla_fail(MVLA_ERR_ARG, "preprocess: crop: unknown policy %d", (int)p->crop);
    if ((unsigned)p->filter > FILTER_BICUBIC)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: filter: unknown filter %d", (int)p->filter);
    return MVLA_OK;
}

/* Rounded a * b / c for positive values, at least 1. */
static int scaled(long a, long b, long c)
{
    long v = (2 * a * b + c) / (2 * c);
    return v < 1 ? 1 : (int)v;
}

int preprocess_frame(const Preprocess *p, const uint8_t *bgr, int src_w, int src_h, uint8_t *rgb)
{
    int rc = preprocess_validate(p);
    if (rc) return rc;
    if (src_w < 1 || src_h < 1) return mvla_fail(MVLA_ERR_ARG, "preprocess: source size %dx%d: expected positive", src_w, src_h);
    int W = p->width, H = p->height;
    /* Source rectangle (x0, y0, sw, sh) and destination rectangle (dx, dy, dw, dh). */
    int x0 = 0, y0 = 0, sw = src_w, sh = src_h, dx = 0, dy = 0, dw = W, dh = H;
    int wider = (long)src_w * H > (long)src_h * W; /* source wider than the target aspect */
    int taller = (long)src_w * H < (long)src_h * W;
    if (p->crop == CROP_CENTER) {
        if (wider) {
            sw = scaled(src_h, W, H);
            x0 = (src_w - sw) / 2;
        } else if (taller) {
            sh = scaled(src_w, H, W);
            y0 = (src_h - sh) / 2;
        }
    } else if (p->crop == CROP_PAD) {
        if (wider) {
            dh = scaled(W, src_h, src_w);
            if (dh > H) dh = H;
            dy = (H - dh) / 2;
        } else if (taller) {
            dw = scaled(H, src_w, src_h);
            if (dw > W) dw = W;
            dx = (W - dw) / 2;
        }
        memset(rgb, 0, (size_t)W * H * 3);
    }
    stbir_filter f = p->filter == FILTER_AREA ? STBIR_FILTER_BOX : STBIR_FILTER_CATMULLROM;
    const uint8_t *src = bgr + ((size_t)y0 * src_w + x0) * 3;
    uint8_t *dst = rgb + ((size_t)dy * W + dx) * 3;
    if (!stbir_resize(src, sw, sh, src_w * 3, dst, dw, dh, W * 3, STBIR_TYPE_UINT8, 3, STBIR_ALPHA_CHANNEL_NONE, 0,
                      STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, f, f, STBIR_COLORSPACE_LINEAR, NULL))
        return mvla_fail(MVLA_ERR_NOMEM, "preprocess: resize %dx%d -> %dx%d failed (out of memory)", sw, sh, dw, dh);
    /* BGR -> RGB on the small image (resizing is per channel, so the order of the two steps does not matter). */
    for (int y = dy; y < dy + dh; y++) {
        uint8_t *row = rgb + ((size_t)y * W + dx) * 3;
        for (int x = 0; x < dw; x++) {
            uint8_t t = row[3 * x];
            row[3 * x] = row[3 * x + 2];
            row[3 * x + 2] = t;
        }
    }
    return MVLA_OK;
}
