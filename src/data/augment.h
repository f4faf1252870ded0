/* Augmentation of cached frames (RGB uint8, H x W x 3), deterministic per seed.
 *
 * Two steps: augment_draw samples one concrete transform (an AugmentDraw) from the ranges in
 * AugmentParams; augment_image applies it to a frame. A training sample draws once and applies the
 * same draw to every frame of its window (so the window stays temporally consistent) and to its
 * actions and instruction (mirror). Applied in this order:
 *   geometry  rotation, scale (zoom about the centre), translation and mirror as ONE affine warp with
 *             bilinear sampling (edges clamped); a pure mirror is an exact pixel flip
 *   colour    brightness (x factor), contrast (towards the image's mean luma), saturation (towards each
 *             pixel's luma), hue (rotation of the YIQ chroma plane), gamma (on [0,1] values); each
 *             clamped to [0, 255]
 *   blur      Gaussian, separable, edges clamped
 *   noise     Gaussian-like per value (sum of four uniforms, unit variance); its stream depends on the
 *             draw and the frame's index in the window
 * Mirror (horizontal flip) also negates linear_y and angular_z (the sideways slide and the turn
 * change sign in a mirrored world; linear_x does not) and swaps left/right in the instruction and the
 * scenario label. */
#ifndef MVLA_AUGMENT_H
#define MVLA_AUGMENT_H

#include "base/rng.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    float rotate_deg;            /* angle uniform in [-r, r] degrees */
    float scale_min, scale_max;  /* zoom uniform in [min, max]; > 1 zooms in (crops), < 1 zooms out */
    float translate;             /* shift uniform in [-t, t] x width (x) and x height (y) */
    float brightness;            /* factor uniform in [1-b, 1+b] */
    float contrast;              /* factor uniform in [1-c, 1+c] */
    float saturation;            /* factor uniform in [1-s, 1+s] */
    float hue;                   /* chroma rotation uniform in [-h, h] turns (0.5 = half a turn) */
    float gamma;                 /* exponent uniform in [1-g, 1+g] */
    float noise_std;             /* noise std uniform in [0, n], in pixel units (0..255) */
    float blur_prob;             /* probability of a blur ... */
    float blur_sigma;            /* ... with sigma uniform in [0.5, max(0.5, s)] pixels */
    float mirror_prob;           /* probability of a horizontal mirror */
} AugmentParams;

/* Moderate defaults for a small navigation policy: +-5 deg, zoom 1..1.1, +-4% shift, +-25%
 * brightness/contrast/saturation, +-0.03 turn hue, gamma 0.8..1.2, noise up to 4, blur 20% with
 * sigma up to 1, mirror 50%. */
void augment_defaults(AugmentParams *p);
/* Everything off: augment_draw then gives the identity. */
void augment_off(AugmentParams *p);
/* Checks ranges (non-negative amounts, 0 < scale_min <= scale_max, probabilities in [0,1], hue <= 0.5,
 * gamma < 1, ...); MVLA_ERR_ARG naming the field otherwise. */
int augment_validate(const AugmentParams *p);
/* The 13 parameters as a JSON object keyed by their field names (as configs spell them); NULL when out
 * of memory. */
json_t *augment_params_json(const AugmentParams *p);

/* One concrete transform. */
typedef struct {
    int mirror;
    float angle_rad, scale, tx, ty;  /* tx, ty in pixels */
    float brightness, contrast, saturation, hue_rad, gamma;
    float noise_std, blur_sigma;
    uint64_t noise_seed;
} AugmentDraw;

/* The identity transform, and whether d is one (then augment_image is a plain copy). */
void augment_identity(AugmentDraw *d);
int augment_is_identity(const AugmentDraw *d);
/* Samples a transform for a w x h image. Always consumes the same number of random values, so
 * switching one augmentation off does not change the others' draws. */
void augment_draw(const AugmentParams *p, Rng *rng, int w, int h, AugmentDraw *d);

/* Applies d to src (w x h x 3 RGB) into dst (may not alias src). frame_index selects the noise
 * stream (use the frame's index in its window). Returns MVLA_ERR_NOMEM on allocation failure. */
int augment_image(const AugmentDraw *d, int frame_index, const uint8_t *src, uint8_t *dst, int w, int h);

/* Mirror only: negates linear_y and angular_z of n actions [linear_x, linear_y, angular_z]. */
void augment_actions(const AugmentDraw *d, float *actions, int n);

/* A malloc'd copy of text with "left" and "right" swapped (as words or word beginnings such as
 * "leftmost", case kept: Left <-> Right, LEFT <-> RIGHT; '_' counts as a separator, so scenario
 * labels like 1box_vert_left swap too) and Korean 왼쪽 <-> 오른쪽. NULL text gives NULL;
 * NULL with an error on out of memory. */
char *augment_swap_sides(const char *text);

#endif
