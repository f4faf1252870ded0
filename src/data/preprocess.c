/* Frame preprocessing: crop or pad to the target aspect, resize (exact area averaging, data/resize_area.h,
 * or bicubic through stb_image_resize), BGR -> RGB. */
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

/* The crop geometry of plan for settings p and a src_w x src_h source. */
static void plan_geometry(PreprocessPlan *plan, const Preprocess *p, int src_w, int src_h)
{
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
    }
    plan->x0 = x0, plan->y0 = y0, plan->sw = sw, plan->sh = sh;
    plan->dx = dx, plan->dy = dy, plan->dw = dw, plan->dh = dh;
}

static int plan_matches(const PreprocessPlan *plan, const Preprocess *p, int src_w, int src_h)
{
    return plan->src_w > 0 && plan->src_w == src_w && plan->src_h == src_h && plan->p.width == p->width && plan->p.height == p->height &&
           plan->p.crop == p->crop && plan->p.filter == p->filter;
}

static int plan_build(PreprocessPlan *plan, const Preprocess *p, int src_w, int src_h)
{
    plan->src_w = 0; /* invalid until built */
    plan_geometry(plan, p, src_w, src_h);
    if (p->filter == FILTER_AREA) {
        int rc = area_resize_prepare(&plan->area, plan->sw, plan->sh, plan->dw, plan->dh);
        if (rc) return rc;
    }
    plan->p = *p;
    plan->src_w = src_w, plan->src_h = src_h;
    plan->builds++;
    return MVLA_OK;
}

void preprocess_plan_free(PreprocessPlan *plan)
{
    if (!plan) return;
    area_resize_free(&plan->area);
    memset(plan, 0, sizeof *plan);
}

/* Bicubic through stb_image_resize (allocates its scratch memory), then the channel swap. */
static int run_bicubic(const PreprocessPlan *pl, const uint8_t *src, int src_w, PreprocessOrder order, uint8_t *dst,
                       int W)
{
    if (!stbir_resize(src, pl->sw, pl->sh, src_w * 3, dst, pl->dw, pl->dh, W * 3, STBIR_TYPE_UINT8, 3,
                      STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM,
                      STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR, NULL))
        return mvla_fail(MVLA_ERR_NOMEM, "preprocess: resize %dx%d -> %dx%d failed (out of memory)", pl->sw, pl->sh,
                         pl->dw, pl->dh);
    if (order == PREPROCESS_RGB) return MVLA_OK;
    for (int y = 0; y < pl->dh; y++) {
        uint8_t *row = dst + (size_t)y * W * 3;
        for (int x = 0; x < pl->dw; x++) {
            uint8_t t = row[3 * x];
            row[3 * x] = row[3 * x + 2];
            row[3 * x + 2] = t;
        }
    }
    return MVLA_OK;
}

int preprocess_run(PreprocessPlan *plan, const Preprocess *p, const uint8_t *src, int src_w, int src_h,
                   PreprocessOrder order, uint8_t *rgb)
{
    if (!plan_matches(plan, p, src_w, src_h)) {
        int rc = preprocess_validate(p);
        if (rc) return rc;
        if (src_w < 1 || src_h < 1)
            return mvla_fail(MVLA_ERR_ARG, "preprocess: source size %dx%d: expected positive", src_w, src_h);
        if ((rc = plan_build(plan, p, src_w, src_h))) return rc;
    }
    if (order != PREPROCESS_BGR && order != PREPROCESS_RGB)
        return mvla_fail(MVLA_ERR_ARG, "preprocess: channel order %d: expected PREPROCESS_BGR or PREPROCESS_RGB",
                         (int)order);
    int W = p->width, H = p->height;
    if (plan->dw < W || plan->dh < H) memset(rgb, 0, (size_t)W * H * 3); /* pad: black borders */
    const uint8_t *s = src + ((size_t)plan->y0 * src_w + plan->x0) * 3;
    uint8_t *d = rgb + ((size_t)plan->dy * W + plan->dx) * 3;
    if (p->filter == FILTER_BICUBIC) return run_bicubic(plan, s, src_w, order, d, W);
    area_resize_run(&plan->area, s, (size_t)src_w * 3, d, (size_t)W * 3, order == PREPROCESS_BGR);
    return MVLA_OK;
}

int preprocess_frame(const Preprocess *p, const uint8_t *bgr, int src_w, int src_h, uint8_t *rgb)
{
    PreprocessPlan plan = {0};
    int rc = preprocess_run(&plan, p, bgr, src_w, src_h, PREPROCESS_BGR, rgb);
    preprocess_plan_free(&plan);
    return rc;
}
