/* Preview grids: a PNG of augmented cached frames so a person can look at what training sees. */
#ifndef MVLA_PREVIEW_H
#define MVLA_PREVIEW_H

#include "data/augment.h"
#include "data/cache.h"

#include <stdint.h>

typedef struct {
    int n;             /* tiles (default 16) */
    int cols;          /* tiles per row; 0: about sqrt(n) */
    int scale;         /* integer upscaling of each frame (nearest), default 2 */
    int pairs;         /* 1: each tile is the original and the augmented frame side by side */
    uint64_t seed;     /* which frames and which augmentations */
    AugmentParams aug; /* default augment_defaults */
} PreviewOptions;

void preview_options_default(PreviewOptions *o);

typedef struct {
    int episode, t;    /* cache episode index and frame */
    int mirrored;
    char *instruction; /* after mirroring (malloc'd) */
} PreviewTile;

/* Builds the grid: *rgb (malloc'd, *w x *h x 3), and o->n tiles' descriptions (malloc'd; free with
 * preview_tiles_free). Tiles are separated by a 2-pixel grey border. Deterministic per seed. */
int preview_grid(const FrameCache *c, const PreviewOptions *o, uint8_t **rgb, int *w, int *h, PreviewTile **tiles);
void preview_tiles_free(PreviewTile *tiles, int n);

/* Writes an RGB image as PNG, atomically. */
int preview_write_png(const char *path, const uint8_t *rgb, int w, int h);

#endif
