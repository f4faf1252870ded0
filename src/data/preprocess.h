/* Frame preprocessing: camera BGR bytes -> the model's input, RGB uint8 at a fixed size.
 * This is the one place where channel order, resize filter and crop policy are decided; the
 * policy is stored with every cache (and later every model file) so it is applied identically
 * in training and at run time.
 *
 * Crop policies, for a source whose aspect ratio differs from the target's:
 *   stretch      resize the whole frame to the target size (aspect ratio not kept)
 *   center_crop  resize so the short side fits, then cut the centre (edges are lost)
 *   pad          resize so the long side fits, centre it, fill the rest with black
 * For a 16:9 camera and a 16:9 target (the default 128x72) all three give the same image.
 * Filters: "area" (exact area averaging: each output pixel is the coverage-weighted mean of the
 * source pixels its footprint covers, fractional at the edges, like OpenCV's INTER_AREA; the right
 * choice for large downscales; see data/resize_area.h, also for enlarging) and "bicubic"
 * (Catmull-Rom through stb_image_resize, edges clamped). */
#ifndef MVLA_PREPROCESS_H
#define MVLA_PREPROCESS_H

#include "data/resize_area.h"

#include <stdint.h>

typedef enum { CROP_STRETCH = 0, CROP_CENTER, CROP_PAD } CropPolicy;
typedef enum { FILTER_AREA = 0, FILTER_BICUBIC } ResizeFilter;

#define PREPROCESS_DEFAULT_WIDTH 128
#define PREPROCESS_DEFAULT_HEIGHT 72
#define PREPROCESS_MAX_SIDE 4096

typedef struct {
    int width, height;  /* output size in pixels */
    CropPolicy crop;
    ResizeFilter filter;
} Preprocess;

/* 128x72 (16:9, like the camera), stretch, area. */
void preprocess_default(Preprocess *p);

const char *crop_name(CropPolicy c);        /* "stretch", "center_crop", "pad" */
const char *filter_name(ResizeFilter f);    /* "area", "bicubic" */
/* Parse the names above; MVLA_ERR_ARG naming the accepted values otherwise. */
int crop_parse(const char *s, CropPolicy *out);
int filter_parse(const char *s, ResizeFilter *out);
/* "WxH", e.g. "128x72", each side in 1..PREPROCESS_MAX_SIDE. */
int preprocess_parse_size(const char *s, int *width, int *height);
/* Checks sizes and enums; MVLA_ERR_ARG otherwise. */
int preprocess_validate(const Preprocess *p);

/* Channel order of a source frame (the values of MVLA_BGR / MVLA_RGB and POLICY_BGR / POLICY_RGB). */
typedef enum { PREPROCESS_BGR = 0, PREPROCESS_RGB = 1 } PreprocessOrder;

/* What preprocess_run needs besides the settings, for frames of one size: the crop geometry and the
 * area filter's weight tables and row buffer. Zero-initialise it (PreprocessPlan plan = {0}); the
 * first call builds it and later calls reuse it, rebuilding only when the source size or the
 * settings change (reallocating only when the new tables need more room). One plan per thread.
 * Fields are private except builds. */
typedef struct {
    Preprocess p;              /* the settings and source size it was built for (src_w 0: none) */
    int src_w, src_h;
    int x0, y0, sw, sh;        /* source rectangle */
    int dx, dy, dw, dh;        /* where it goes in the output */
    AreaResize area;
    long builds;               /* times the plan was (re)built */
} PreprocessPlan;

/* src: src_w x src_h x 3 bytes in `order` (rows contiguous). rgb: p->width x p->height x 3 bytes, RGB.
 * The channel swap is fused into the resize. Filter "area" allocates nothing once plan is built for
 * this source size; "bicubic" (stb_image_resize) allocates scratch memory on every call. */
int preprocess_run(PreprocessPlan *plan, const Preprocess *p, const uint8_t *src, int src_w, int src_h,
                   PreprocessOrder order, uint8_t *rgb);
/* Frees plan's memory and empties it (safe on a zeroed plan). */
void preprocess_plan_free(PreprocessPlan *plan);

/* One BGR frame through a temporary plan (allocates per call: for one-off frames and the cache build;
 * a loop over frames of one size should keep a PreprocessPlan). Thread-safe (no shared state). */
int preprocess_frame(const Preprocess *p, const uint8_t *bgr, int src_w, int src_h, uint8_t *rgb);

#endif
