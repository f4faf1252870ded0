/* Preview grids of augmented cached frames, written as PNG with stb_image_write. */
#include "data/preview.h"

#include "base/error.h"
#include "base/file.h"

#include <stb_image_write.h>
#include <stdlib.h>
#include <string.h>

#define BORDER 2
#define BORDER_GREY 96

void preview_options_default(PreviewOptions *o)
{
    memset(o, 0, sizeof *o);
    o->n = 16;
    o->scale = 2;
    augment_defaults(&o->aug);
}

void preview_tiles_free(PreviewTile *tiles, int n)
{
    if (!tiles) return;
    for (int i = 0; i < n; i++) free(tiles[i].instruction);
    free(tiles);
}

/* Copies a fw x fh frame, scaled up by s (nearest), to (x0, y0) of the W-wide grid. */
static void blit(uint8_t *grid, int W, int x0, int y0, const uint8_t *f, int fw, int fh, int s)
{
    for (int y = 0; y < fh * s; y++)
        for (int x = 0; x < fw * s; x++)
            memcpy(grid + ((size_t)(y0 + y) * W + x0 + x) * 3, f + ((size_t)(y / s) * fw + x / s) * 3, 3);
}

int preview_grid(const FrameCache *c, const PreviewOptions *o, uint8_t **rgb, int *w, int *h, PreviewTile **tiles)
{
    *rgb = NULL, *tiles = NULL, *w = *h = 0;
    if (o->n < 1 || o->n > 4096) return mvla_fail(MVLA_ERR_ARG, "preview: n %d: expected 1..4096 tiles", o->n);
    if (o->scale < 1 || o->scale > 16) return mvla_fail(MVLA_ERR_ARG, "preview: scale %d: expected 1..16", o->scale);
    if (o->cols < 0) return mvla_fail(MVLA_ERR_ARG, "preview: cols %d: expected >= 0", o->cols);
    int rc = augment_validate(&o->aug);
    if (rc) return rc;
    const Preprocess *p = cache_preprocess(c);
    int cols = o->cols;
    if (!cols)
        while (cols * cols < o->n) cols++;
    if (cols > o->n) cols = o->n;
    int rows = (o->n + cols - 1) / cols;
    int tw = p->width * o->scale * (o->pairs ? 2 : 1) + (o->pairs ? BORDER : 0), th = p->height * o->scale;
    int W = BORDER + cols * (tw + BORDER), H = BORDER + rows * (th + BORDER);
    if ((long)W * H > (1L << 28)) return mvla_fail(MVLA_ERR_ARG, "preview: a %dx%d grid is too large", W, H);
    uint8_t *grid = malloc((size_t)W * H * 3), *aug = malloc(cache_frame_bytes(c));
    PreviewTile *tl = calloc((size_t)o->n, sizeof *tl);
    if (!grid || !aug || !tl) {
        free(grid), free(aug), free(tl);
        return mvla_fail(MVLA_ERR_NOMEM, "preview: out of memory");
    }
    memset(grid, BORDER_GREY, (size_t)W * H * 3);
    for (int i = 0; i < o->n && !rc; i++) {
        Rng r;
        rng_seed(&r, o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i);
        int e = (int)rng_below(&r, (uint32_t)cache_num_episodes(c));
        const CacheEpisode *ep = cache_episode(c, e);
        int t = (int)rng_below(&r, (uint32_t)ep->num_frames);
        AugmentDraw d;
        augment_draw(&o->aug, &r, p->width, p->height, &d);
        rc = augment_image(&d, 0, cache_frame(c, e, t), aug, p->width, p->height);
        if (rc) break;
        int x0 = BORDER + (i % cols) * (tw + BORDER), y0 = BORDER + (i / cols) * (th + BORDER);
        if (o->pairs) {
            blit(grid, W, x0, y0, cache_frame(c, e, t), p->width, p->height, o->scale);
            x0 += p->width * o->scale + BORDER;
        }
        blit(grid, W, x0, y0, aug, p->width, p->height, o->scale);
        tl[i].episode = e;
        tl[i].t = t;
        tl[i].mirrored = d.mirror;
        char *text = d.mirror ? augment_swap_sides(ep->instruction) : NULL;
        if (!d.mirror) {
            size_t len = strlen(ep->instruction) + 1;
            if ((text = malloc(len))) memcpy(text, ep->instruction, len);
        }
        if (!(tl[i].instruction = text)) rc = mvla_fail(MVLA_ERR_NOMEM, "preview: out of memory");
    }
    free(aug);
    if (rc) {
        free(grid);
        preview_tiles_free(tl, o->n);
        return rc;
    }
    *rgb = grid, *w = W, *h = H, *tiles = tl;
    return MVLA_OK;
}

typedef struct {
    unsigned char *data;
    size_t n, cap;
    int failed;
} Buffer;

static void append(void *ctx, void *data, int size)
{
    Buffer *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + (size_t)size) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int preview_write_png(const char *path, const uint8_t *rgb, int w, int h)
{
    Buffer b = {0};
    int ok = stbi_write_png_to_func(append, &b, w, h, 3, rgb, w * 3) && !b.failed;
    int rc = ok ? file_write_atomic(path, b.data, b.n) : mvla_fail(MVLA_ERR_NOMEM, "%s: cannot encode the PNG", path);
    free(b.data);
    return rc;
}
