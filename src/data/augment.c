/* Augmentation: sampling a transform, applying it to an RGB frame, mirroring actions and text. */
#include "data/augment.h"

#include "base/error.h"
#include "data/actions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_F 3.14159265358979f

void augment_defaults(AugmentParams *p)
{
    p->rotate_deg = 5.0f;
    p->scale_min = 1.0f;
    p->scale_max = 1.1f;
    p->translate = 0.04f;
    p->brightness = 0.25f;
    p->contrast = 0.25f;
    p->saturation = 0.25f;
    p->hue = 0.03f;
    p->gamma = 0.2f;
    p->noise_std = 4.0f;
    p->blur_prob = 0.2f;
    p->blur_sigma = 1.0f;
    p->mirror_prob = 0.5f;
}

void augment_off(AugmentParams *p)
{
    memset(p, 0, sizeof *p);
    p->scale_min = p->scale_max = 1.0f;
}

int augment_validate(const AugmentParams *p)
{
    struct {
        const char *name;
        float v, lo, hi;
    } f[] = {
        {"rotate_deg", p->rotate_deg, 0, 180}, {"scale_min", p->scale_min, 0.1f, 10},
        {"scale_max", p->scale_max, 0.1f, 10}, {"translate", p->translate, 0, 1},
        {"brightness", p->brightness, 0, 1},   {"contrast", p->contrast, 0, 1},
        {"saturation", p->saturation, 0, 1},   {"hue", p->hue, 0, 0.5f},
        {"gamma", p->gamma, 0, 0.9f},          {"noise_std", p->noise_std, 0, 255},
        {"blur_prob", p->blur_prob, 0, 1},     {"blur_sigma", p->blur_sigma, 0, 20},
        {"mirror_prob", p->mirror_prob, 0, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!(f[i].v >= f[i].lo && f[i].v <= f[i].hi))
            return mvla_fail(MVLA_ERR_ARG, "augmentation: %s = %g: expected a value in [%g, %g]", f[i].name,
                             (double)f[i].v, (double)f[i].lo, (double)f[i].hi);
    if (p->scale_min > p->scale_max)
        return mvla_fail(MVLA_ERR_ARG, "augmentation: scale_min %g > scale_max %g", (double)p->scale_min,
                         (double)p->scale_max);
    return MVLA_OK;
}

json_t *augment_params_json(const AugmentParams *a)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "rotate_deg",
                     (double)a->rotate_deg, "scale_min", (double)a->scale_min, "scale_max", (double)a->scale_max,
                     "translate", (double)a->translate, "brightness", (double)a->brightness, "contrast",
                     (double)a->contrast, "saturation", (double)a->saturation, "hue", (double)a->hue, "gamma",
                     (double)a->gamma, "noise_std", (double)a->noise_std, "blur_prob", (double)a->blur_prob,
                     "blur_sigma", (double)a->blur_sigma, "mirror_prob", (double)a->mirror_prob);
}

void augment_identity(AugmentDraw *d)
{
    memset(d, 0, sizeof *d);
    d->scale = d->brightness = d->contrast = d->saturation = d->gamma = 1.0f;
}

int augment_is_identity(const AugmentDraw *d)
{
    return !d->mirror && d->angle_rad == 0 && d->scale == 1 && d->tx == 0 && d->ty == 0 && d->brightness == 1 &&
           d->contrast == 1 && d->saturation == 1 && d->hue_rad == 0 && d->gamma == 1 && d->noise_std == 0 &&
           d->blur_sigma == 0;
}

/* Uniform in [-a, a] (consumes one value even when a == 0). */
static float sym(Rng *r, float a)
{
    float u = rng_uniform(r);
    return a > 0 ? a * (2 * u - 1) : 0;
}

void augment_draw(const AugmentParams *p, Rng *rng, int w, int h, AugmentDraw *d)
{
    augment_identity(d);
    d->mirror = rng_uniform(rng) < p->mirror_prob;
    d->angle_rad = sym(rng, p->rotate_deg) * PI_F / 180.0f;
    float u = rng_uniform(rng);
    d->scale = p->scale_min + (p->scale_max - p->scale_min) * u;
    d->tx = sym(rng, p->translate) * (float)w;
    d->ty = sym(rng, p->translate) * (float)h;
    d->brightness = 1 + sym(rng, p->brightness);
    d->contrast = 1 + sym(rng, p->contrast);
    d->saturation = 1 + sym(rng, p->saturation);
    d->hue_rad = sym(rng, p->hue) * 2 * PI_F;
    d->gamma = 1 + sym(rng, p->gamma);
    u = rng_uniform(rng);
    d->noise_std = p->noise_std * u;
    int blur = rng_uniform(rng) < p->blur_prob;
    u = rng_uniform(rng);
    float smax = p->blur_sigma > 0.5f ? p->blur_sigma : 0.5f;
    d->blur_sigma = blur && p->blur_sigma > 0 ? 0.5f + (smax - 0.5f) * u : 0;
    d->noise_seed = rng_next(rng);
}

/* ---- geometry ---- */

static void warp(const AugmentDraw *d, const uint8_t *src, float *dst, int w, int h)
{
    int geom = d->angle_rad != 0 || d->scale != 1 || d->tx != 0 || d->ty != 0;
    if (!geom) { /* exact copy or flip: no resampling */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *s = src + ((size_t)y * w + (d->mirror ? w - 1 - x : x)) * 3;
                float *o = dst + ((size_t)y * w + x) * 3;
                o[0] = s[0], o[1] = s[1], o[2] = s[2];
            }
        return;
    }
    /* Inverse map: output pixel -> source point. Forward: rotate by angle and zoom by scale about the
     * centre, shift by (tx, ty), then mirror. */
    float cx = (w - 1) * 0.5f, cy = (h - 1) * 0.5f;
    float c = cosf(d->angle_rad) / d->scale, s = sinf(d->angle_rad) / d->scale;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float u = (float)(d->mirror ? w - 1 - x : x) - cx - d->tx, v = (float)y - cy - d->ty;
            float sx = cx + c * u + s * v, sy = cy - s * u + c * v;
            if (sx < 0) sx = 0;
            if (sy < 0) sy = 0;
            if (sx > w - 1) sx = (float)(w - 1);
            if (sy > h - 1) sy = (float)(h - 1);
            int x0 = (int)sx, y0 = (int)sy;
            int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
            float fx = sx - (float)x0, fy = sy - (float)y0;
            const uint8_t *p00 = src + ((size_t)y0 * w + x0) * 3, *p01 = src + ((size_t)y0 * w + x1) * 3;
            const uint8_t *p10 = src + ((size_t)y1 * w + x0) * 3, *p11 = src + ((size_t)y1 * w + x1) * 3;
            float *o = dst + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) {
                float top = p00[k] + fx * (p01[k] - p00[k]), bot = p10[k] + fx * (p11[k] - p10[k]);
                o[k] = top + fy * (bot - top);
            }
        }
}

/* ---- colour ---- */

/* Written as max then min (the operand order of the vector max/min instructions), so the loops vectorise. */
static float clamp255(float v)
{
    v = v > 0 ? v : 0;
    return v < 255 ? v : 255;
}
static float luma(const float *p) { return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }

static void colour(const AugmentDraw *d, float *img, long n)
{
    if (d->brightness != 1)
        for (long i = 0; i < 3 * n; i++) img[i] = clamp255(img[i] * d->brightness);
    if (d->contrast != 1) {
        double sum = 0;
        for (long i = 0; i < n; i++) sum += luma(img + 3 * i);
        float m = (float)(sum / (double)n);
        for (long i = 0; i < 3 * n; i++) img[i] = clamp255(m + d->contrast * (img[i] - m));
    }
    if (d->saturation != 1)
        for (long i = 0; i < n; i++) {
            float *p = img + 3 * i, l = luma(p);
            for (int k = 0; k < 3; k++) p[k] = clamp255(l + d->saturation * (p[k] - l));
        }
    if (d->hue_rad != 0) { /* rotate (I, Q) in YIQ space; Y (luma) is kept */
        float c = cosf(d->hue_rad), s = sinf(d->hue_rad);
        for (long i = 0; i < n; i++) {
            float *p = img + 3 * i;
            float Y = luma(p);
            float I = 0.596f * p[0] - 0.274f * p[1] - 0.322f * p[2];
            float Q = 0.211f * p[0] - 0.523f * p[1] + 0.312f * p[2];
            float I2 = c * I - s * Q, Q2 = s * I + c * Q;
            p[0] = clamp255(Y + 0.956f * I2 + 0.621f * Q2);
            p[1] = clamp255(Y - 0.272f * I2 - 0.647f * Q2);
            p[2] = clamp255(Y - 1.106f * I2 + 1.703f * Q2);
        }
    }
    if (d->gamma != 1) {
        float lut[256];
        for (int i = 0; i < 256; i++) lut[i] = 255.0f * powf((float)i / 255.0f, d->gamma);
        for (long i = 0; i < 3 * n; i++) { /* linear interpolation in the table (values are not integers) */
            float v = img[i];
            int a = (int)v;
            if (a >= 255) {
                img[i] = lut[255];
                continue;
            }
            img[i] = lut[a] + (v - (float)a) * (lut[a + 1] - lut[a]);
        }
    }
}

/* ---- blur and noise ---- */

static int blur(float sigma, float *img, int w, int h)
{
    int r = (int)ceilf(3 * sigma);
    if (r < 1) r = 1;
    float *k = malloc(sizeof(float) * (size_t)(2 * r + 1));
    float *tmp = malloc(sizeof(float) * (size_t)w * h * 3);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return mvla_fail(MVLA_ERR_NOMEM, "augmentation: out of memory for blur");
    }
    float sum = 0;
    for (int i = -r; i <= r; i++) sum += k[i + r] = expf(-(float)(i * i) / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] /= sum;
    for (int y = 0; y < h; y++) /* horizontal: img -> tmp */
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    acc += k[i + r] * img[((size_t)y * w + xx) * 3 + c];
                }
                tmp[((size_t)y * w + x) * 3 + c] = acc;
            }
    for (int y = 0; y < h; y++) /* vertical: tmp -> img */
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                    acc += k[i + r] * tmp[((size_t)yy * w + x) * 3 + c];
                }
                img[((size_t)y * w + x) * 3 + c] = acc;
            }
    free(k);
    free(tmp);
    return MVLA_OK;
}

/* A standard-normal-like value from one 64-bit draw: the sum of four 16-bit uniforms, centred and
 * scaled to unit variance (Irwin-Hall, within +-3.5 sigma). Box-Muller's log and cos per value would
 * cost more than the rest of the augmentation. */
static float approx_normal(Rng *r)
{
    uint64_t v = rng_next(r);
    /* summed as integers: below 2^18, so the one conversion is exact (the same value as summing floats) */
    uint32_t s = (uint32_t)(v & 0xffff) + (uint32_t)((v >> 16) & 0xffff) + (uint32_t)((v >> 32) & 0xffff) +
                 (uint32_t)(v >> 48);
    return ((float)s - 131070.0f) * (1.7320508f / 65536.0f);
}

int augment_image(const AugmentDraw *d, int frame_index, const uint8_t *src, uint8_t *dst, int w, int h)
{
    long n = (long)w * h;
    float *img = malloc(sizeof(float) * (size_t)n * 3);
    if (!img) return mvla_fail(MVLA_ERR_NOMEM, "augmentation: out of memory for a %dx%d frame", w, h);
    warp(d, src, img, w, h);
    colour(d, img, n);
    if (d->blur_sigma > 0 && blur(d->blur_sigma, img, w, h)) {
        free(img);
        return MVLA_ERR_NOMEM;
    }
    if (d->noise_std > 0) {
        Rng r;
        rng_seed(&r, d->noise_seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(frame_index + 1)));
        for (long i = 0; i < 3 * n; i++) img[i] += d->noise_std * approx_normal(&r);
    }
    for (long i = 0; i < 3 * n; i++) dst[i] = (uint8_t)(clamp255(img[i]) + 0.5f);
    free(img);
    return MVLA_OK;
}

void augment_actions(const AugmentDraw *d, float *actions, int n)
{
    if (!d->mirror) return;
    for (int i = 0; i < n; i++) action_mirror(actions + 3 * i);
}

/* ---- left <-> right in text ---- */

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Case-insensitive: does s start with word w (ASCII lower case)? */
static int starts_ci(const char *s, const char *w)
{
    for (; *w; s++, w++)
        if (!*s || (*s | 32) != *w) return 0;
    return 1;
}

/* Length of "left"/"right" at s if it is a word or a word beginning we swap (leftmost, rightward). */
static size_t side_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (!starts_ci(s, word)) return 0;
    const char *rest = s + n;
    if (!is_letter(*rest) || starts_ci(rest, "most") || starts_ci(rest, "ward")) return n;
    return 0;
}

static char *put_cased(char *o, const char *src_word, const char *repl)
{
    int all_caps = src_word[0] >= 'A' && src_word[0] <= 'Z' && src_word[1] >= 'A' && src_word[1] <= 'Z';
    int first_cap = src_word[0] >= 'A' && src_word[0] <= 'Z';
    for (size_t i = 0; repl[i]; i++) {
        char c = repl[i];
        if (all_caps || (first_cap && i == 0)) c = (char)(c - 'a' + 'A');
        *o++ = c;
    }
    return o;
}

char *augment_swap_sides(const char *text)
{
    if (!text) return NULL;
    static const char ko_left[] = "\xec\x99\xbc\xec\xaa\xbd";              /* 왼쪽 */
    static const char ko_right[] = "\xec\x98\xa4\xeb\xa5\xb8\xec\xaa\xbd"; /* 오른쪽 */
    size_t len = strlen(text);
    char *out = malloc(2 * len + 1); /* every replacement grows by at most half */
    if (!out) {
        mvla_fail(MVLA_ERR_NOMEM, "augmentation: out of memory swapping sides");
        return NULL;
    }
    char *o = out;
    for (size_t i = 0; i < len;) {
        const char *s = text + i;
        int boundary = i == 0 || !is_letter(text[i - 1]);
        size_t n;
        if (strncmp(s, ko_left, sizeof ko_left - 1) == 0) {
            memcpy(o, ko_right, sizeof ko_right - 1);
            o += sizeof ko_right - 1;
            i += sizeof ko_left - 1;
        } else if (strncmp(s, ko_right, sizeof ko_right - 1) == 0) {
            memcpy(o, ko_left, sizeof ko_left - 1);
            o += sizeof ko_left - 1;
            i += sizeof ko_right - 1;
        } else if (boundary && (n = side_word(s, "left")) > 0) {
            o = put_cased(o, s, "right");
            i += n;
        } else if (boundary && (n = side_word(s, "right")) > 0) {
            o = put_cased(o, s, "left");
            i += n;
        } else {
            *o++ = text[i++];
        }
    }
    *o = '\0';
    return out;
}
