/* Exact area-average resizing of 8-bit interleaved 3-channel images (the "area" filter of
 * data/preprocess.h).
 *
 * Each output pixel is the coverage-weighted mean of the source pixels under its footprint: output
 * column o of an in -> out axis covers the source interval [o*in/out, (o+1)*in/out), and a source
 * pixel j weighs by the length of [j, j+1) inside it (fractional at the footprint's ends). The two
 * axes multiply, so the result is the exact mean over the footprint's area (OpenCV's INTER_AREA when
 * downscaling). The same definition holds for any scale: when out > in a footprint is shorter than
 * a pixel and lies inside one source pixel or straddles two ("pixel mixing", OpenCV's INTER_AREA
 * when enlarging), and in == out copies the source exactly.
 *
 * Arithmetic is exact integer: with lengths in units of 1/out of a source pixel every overlap is an
 * integer in 1..out and the overlaps of one output sum to in, so a pixel's weighted sum S is an
 * integer over the denominator D = in_w * in_h. The stored value is round-half-up(S / D), exactly
 * (no floating-point error, the same bytes on every machine).
 *
 * Separable, vertical pass first: for each output row the covered source rows are accumulated into
 * one int32 row (a contiguous multiply-add over in_w * 3 values, which the compiler vectorises), then
 * the horizontal pass reduces that row to out_w pixels. The tables and the row live in one block that
 * area_resize_prepare builds once per size and reuses: area_resize_run allocates nothing. */
#ifndef MVLA_RESIZE_AREA_H
#define MVLA_RESIZE_AREA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int in_w, in_h, out_w, out_h;     /* what the tables are for (in_w 0: nothing built yet) */
    int *x_first, *x_count;           /* per output column: first source column, number of taps */
    int *y_first, *y_count;           /* per output row: first source row, number of taps */
    int32_t *x_w, *y_w;               /* the overlaps, output after output */
    int32_t *acc;                     /* in_w * 3: one output row's vertical sums */
    int64_t den2;                     /* 2 * in_w * in_h */
    double inv_den2;                  /* 1 / den2 (a first guess, corrected exactly) */
    void *mem;                        /* the one block behind the pointers above */
    size_t cap;                       /* its size in bytes */
} AreaResize;

/* Builds the tables for in_w x in_h -> out_w x out_h (each side >= 1, in_w * in_h * 255 * 2 below
 * 2^62). Nothing is done when r already holds them; the block is reallocated only when the new tables
 * need more room than it has. MVLA_ERR_ARG / MVLA_ERR_NOMEM otherwise (r is then empty). */
int area_resize_prepare(AreaResize *r, int in_w, int in_h, int out_w, int out_h);

/* src: in_h rows of in_w pixels, row i at src + i * src_stride bytes; dst: out_h rows of out_w pixels
 * at dst + i * dst_stride. swap_rb: store channels in the order 2, 1, 0 (BGR <-> RGB). Allocates
 * nothing; r's row buffer is written, so one AreaResize per thread. */
void area_resize_run(AreaResize *r, const uint8_t *src, size_t src_stride, uint8_t *dst, size_t dst_stride,
                     int swap_rb);

/* Frees the block and empties r (safe on a zeroed or already freed r). */
void area_resize_free(AreaResize *r);

#endif
