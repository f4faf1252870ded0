/* CLIP's image preprocessing, bit-exact with OpenAI's clip._transform(R) on a PIL image:
 *   Resize(R, BICUBIC)  short side -> R, long side -> int(R * long / short) (truncated), Pillow's
 *                       fixed-point separable convolution (see clip_resize_u8)
 *   CenterCrop(R)       offset int(round((size - R) / 2)) with round-half-to-even; a crop larger than
 *                       the image is zero-padded first, as torchvision does
 *   ToTensor, Normalize ((u8 / 255) - mean) / std in float32, planes in CHW order.
 * The parameters are a struct that travels with a model file as JSON (to_json / from_json), so the
 * same preprocessing is applied in training and at run time. */
#ifndef MVLA_CLIP_PREPROCESS_H
#define MVLA_CLIP_PREPROCESS_H

#include <jansson.h>
#include <stdint.h>

typedef enum { CLIP_RESAMPLE_BICUBIC = 0, CLIP_RESAMPLE_BILINEAR } ClipResample;
typedef enum { CLIP_RGB = 0, CLIP_BGR } ClipChannelOrder;

#define CLIP_PREPROCESS_MAX_SIDE 16384

typedef struct {
    int resize;                   /* short side after resizing (0: no resize, crop only) */
    int crop_height, crop_width;  /* centre crop = output size */
    float mean[3], std[3];        /* per output plane, in channel_order */
    ClipResample resample;        /* Pillow's BICUBIC (Keys a = -0.5) or BILINEAR (triangle) */
    ClipChannelOrder channel_order; /* order of the output planes: what the model was trained on */
} ClipPreprocess;

/* OpenAI CLIP at resolution size: resize size, crop size x size, CLIP mean/std, bicubic, RGB. */
void clip_preprocess_default(ClipPreprocess *p, int size);
/* Sizes in range, std > 0 and finite, enums known; MVLA_ERR_ARG naming the field otherwise. */
int clip_preprocess_validate(const ClipPreprocess *p);

/* The size an image of width x height has after the resize step (torchvision's rule). */
void clip_resized_size(const ClipPreprocess *p, int width, int height, int *out_width, int *out_height);

/* img: height x width x 3 uint8, rows contiguous, channels in `order` (the frame's own order; it is
 * converted to p->channel_order). out: 3 x crop_height x crop_width floats (CHW).
 * Thread-safe; allocates scratch memory per call; OpenMP over rows for large images. */
int clip_preprocess_image(const ClipPreprocess *p, const uint8_t *img, int width, int height,
                          ClipChannelOrder order, float *out);

/* Pillow's Image.resize(..., BICUBIC or BILINEAR) of an 8-bit image, exactly (Pillow 9.4,
 * libImaging/Resample.c): separable, horizontal pass then vertical, each producing uint8. Per output
 * index: scale = in/out, support = filter support * max(scale, 1), taps
 * [int(centre - support + 0.5), int(centre + support + 0.5)) clipped to the image, weights
 * filter((j - centre + 0.5) / max(scale, 1)) normalised to sum 1, then rounded to 22-bit fixed
 * point; each pass adds 2^21, shifts right by 22 and clamps to [0, 255].
 * src: h x w x channels, dst: out_h x out_w x channels (rows contiguous). */
int clip_resize_u8(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int out_w, int out_h,
                   ClipResample resample);

/* JSON form: {"resize": 224, "crop_height": 224, "crop_width": 224, "mean": [r, g, b], "std": [..],
 * "resample": "bicubic" | "bilinear", "channel_order": "rgb" | "bgr"}. Floats are written with
 * enough digits to read back bit-exact. to_json returns a new reference (NULL if out of memory). */
json_t *clip_preprocess_to_json(const ClipPreprocess *p);
/* Reads every field (all required; unknown keys are ignored) and validates. where names the source
 * in errors (e.g. "model.safetensors: __metadata__.preprocess"). */
int clip_preprocess_from_json(const json_t *obj, const char *where, ClipPreprocess *p);
/* The same through a string (malloc'd; free() it) / from a string. */
char *clip_preprocess_to_json_string(const ClipPreprocess *p);
int clip_preprocess_from_json_string(const char *text, const char *where, ClipPreprocess *p);

const char *clip_resample_name(ClipResample r);          /* "bicubic", "bilinear" */
const char *clip_channel_order_name(ClipChannelOrder c); /* "rgb", "bgr" */

#endif
