/* Exact area-average resizing (see resize_area.h). */
#include "data/resize_area.h"

#include "base/error.h"

#include <stdlib.h>
#include <string.h>

#define AREA_MAX_SIDE (1 << 20)
#define AREA_MAX_PIXELS (1LL << 36)

/* Taps of the in -> out axis: output o covers [o*in, (o+1)*in) in units of 1/out source pixel,
 * source pixel j covers [j*out, (j+1)*out). */
static long axis_taps(int in, int out)
{
    long n = 0;
    for (int o = 0; o < out; o++) {
        long long lo = (long long)o * in, hi = lo + in;
        n += (long)((hi - 1) / out - lo / out + 1);
    }
    return n;
}

static void axis_fill(int in, int out, int *first, int *count, int32_t *w)
{
    for (int o = 0; o < out; o++) {
        long long lo = (long long)o * in, hi = lo + in;
        int j0 = (int)(lo / out), j1 = (int)((hi - 1) / out);
        first[o] = j0;
        count[o] = j1 - j0 + 1;
        for (int j = j0; j <= j1; j++) {
            long long a = (long long)j * out, b = a + out;
            *w++ = (int32_t)((hi < b ? hi : b) - (lo > a ? lo : a));
        }
    }
}

void area_resize_free(AreaResize *r)
{
    free(r->mem);
    memset(r, 0, sizeof *r);
}

int area_resize_prepare(AreaResize *r, int in_w, int in_h, int out_w, int out_h)
{
    if (r->mem && r->in_w == in_w && r->in_h == in_h && r->out_w == out_w && r->out_h == out_h) return MVLA_OK;
    if (in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1 || in_w > AREA_MAX_SIDE || in_h > AREA_MAX_SIDE ||
        out_w > AREA_MAX_SIDE || out_h > AREA_MAX_SIDE || (long long)in_w * in_h > AREA_MAX_PIXELS) {
        area_resize_free(r);
        return mvla_fail(MVLA_ERR_ARG, "area resize: %dx%d -> %dx%d: expected sides in 1..%d and at most 2^36 source "
                         "pixels", in_w, in_h, out_w, out_h, AREA_MAX_SIDE);
    }
    long tx = axis_taps(in_w, out_w), ty = axis_taps(in_h, out_h);
    /* acc first (the block's alignment), then the int32 weights and the int tables */
    size_t n32 = (size_t)in_w * 3 + (size_t)tx + (size_t)ty, nint = 2 * ((size_t)out_w + (size_t)out_h);
    size_t need = n32 * sizeof(int32_t) + nint * sizeof(int);
    if (need > r->cap) {
        void *mem = malloc(need);
        if (!mem) {
            area_resize_free(r);
            return mvla_fail(MVLA_ERR_NOMEM, "area resize: %dx%d -> %dx%d: out of memory for %zu bytes of tables",
                             in_w, in_h, out_w, out_h, need);
        }
        free(r->mem);
        r->mem = mem;
        r->cap = need;
    }
    int32_t *p32 = r->mem;
    r->acc = p32;
    r->x_w = p32 + (size_t)in_w * 3;
    r->y_w = r->x_w + tx;
    int *pi = (int *)(r->y_w + ty);
    r->x_first = pi;
    r->x_count = pi + out_w;
    r->y_first = pi + 2 * (size_t)out_w;
    r->y_count = r->y_first + out_h;
    axis_fill(in_w, out_w, r->x_first, r->x_count, r->x_w);
    axis_fill(in_h, out_h, r->y_first, r->y_count, r->y_w);
    r->in_w = in_w, r->in_h = in_h, r->out_w = out_w, r->out_h = out_h;
    r->den2 = 2 * (int64_t)in_w * in_h;
    r->inv_den2 = 1.0 / (double)r->den2;
    return MVLA_OK;
}

/* round-half-up(s / D) = floor((2s + D) / 2D), exactly: a floating-point guess (|t| < 2^53, so off
 * by at most one) corrected with integer comparisons. */
static inline uint8_t round_div(int64_t s, int64_t den2, double inv)
{
    int64_t t = 2 * s + den2 / 2;
    int64_t q = (int64_t)((double)t * inv);
    if (q * den2 > t) q--;
    else if ((q + 1) * den2 <= t) q++;
    return (uint8_t)q;
}

/* acc[i] (=, or += when add) w0 * r0[i] + w1 * r1[i]: the hot loop, vectorised; w1 = 0 and r1 = r0
 * for a single row. */
static void rows_madd(int32_t *restrict acc, const uint8_t *restrict r0, const uint8_t *restrict r1, int32_t w0,
                      int32_t w1, size_t n, int add)
{
    if (add)
        for (size_t i = 0; i < n; i++) acc[i] += w0 * (int32_t)r0[i] + w1 * (int32_t)r1[i];
    else
        for (size_t i = 0; i < n; i++) acc[i] = w0 * (int32_t)r0[i] + w1 * (int32_t)r1[i];
}

void area_resize_run(AreaResize *r, const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                     int swap_rb)
{
    const size_t n = (size_t)r->in_w * 3;
    const int c0 = swap_rb ? 2 : 0, c2 = swap_rb ? 0 : 2;
    const int32_t *wy = r->y_w;
    int32_t *acc = r->acc;
    for (int oy = 0; oy < r->out_h; oy++) {
        const uint8_t *row = src + (size_t)r->y_first[oy] * src_stride;
        int taps = r->y_count[oy], k = 0;
        for (; k + 1 < taps; k += 2, row += 2 * src_stride)
            rows_madd(acc, row, row + src_stride, wy[k], wy[k + 1], n, k > 0);
        if (k < taps) rows_madd(acc, row, row, wy[k], 0, n, k > 0);
        wy += r->y_count[oy];
        const int32_t *wx = r->x_w;
        uint8_t *d = dst + (size_t)oy * dst_stride;
        for (int ox = 0; ox < r->out_w; ox++, d += 3) {
            const int32_t *a = acc + (size_t)r->x_first[ox] * 3;
            int64_t s0 = 0, s1 = 0, s2 = 0;
            for (int k = 0; k < r->x_count[ox]; k++, a += 3) {
                int64_t w = wx[k];
                s0 += w * a[0];
                s1 += w * a[1];
                s2 += w * a[2];
            }
            wx += r->x_count[ox];
            d[c0] = round_div(s0, r->den2, r->inv_den2);
            d[1] = round_div(s1, r->den2, r->inv_den2);
            d[c2] = round_div(s2, r->den2, r->inv_den2);
        }
    }
}
