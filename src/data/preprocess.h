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
 * Filters: "area" (box filter: each output pixel averages the source pixels it covers; the
 * right choice for large downscales) and "bicubic" (Catmull-Rom, = Pillow's BICUBIC). */
#ifndef MVLA_PREPROCESS_H
#define MVLA_PREPROCESS_H

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

/* bgr: src_w x src_h x 3 bytes (BGR, rows contiguous). rgb: p->width x p->height x 3 bytes.
 * Thread-safe (no shared state); allocates scratch memory per call. */
int preprocess_frame(const Preprocess *p, const uint8_t *bgr, int src_w, int src_h, uint8_t *rgb);

#endif
