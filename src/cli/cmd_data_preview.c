/* mvla data preview CACHE -o grid.png [--seed S] [--n N] [--cols C] [--scale K] [--pairs] [--no-augment]:
 * a PNG grid of augmented frames from a frame cache, and a legend of what each tile is. */
#include "cli/commands.h"

#include "base/error.h"
#include "cli/cli_args.h"
#include "data/cache.h"
#include "data/preview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla data preview CACHE -o GRID.png [--seed S] [--n N] [--cols C] [--scale K] [--pairs]\n"
            "                         [--no-augment] [--no-mirror]\n"
            "  Draws N random cached frames (default 16), each with its own random augmentation (the\n"
            "  training defaults: rotation, zoom, shift, colour jitter, gamma, noise, blur, mirror), into a\n"
            "  grid, and prints which episode, frame and instruction each tile shows.\n"
            "  --seed S       which frames and augmentations (default 0)\n"
            "  --cols C       tiles per row (default about sqrt(N))\n"
            "  --scale K      enlarge each frame K times (default 2)\n"
            "  --pairs        show each original frame beside its augmented version\n"
            "  --no-augment   show the cached frames as they are\n"
            "  --no-mirror    augment, but never mirror\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "mvla: data preview: %s needs an integer in %ld..%ld, got '%s'\n", opt, lo, hi, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int data_preview_main(int argc, char **argv)
{
    const char *cache = NULL, *out = NULL;
    PreviewOptions o;
    preview_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!v) {
                fprintf(stderr, "mvla: data preview: %s needs a value\n", a);
                return 2;
            }
            out = v, i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_int(a, v, 0, 0x7fffffffL, &x)) return 2;
            o.seed = (uint64_t)x, i++;
        } else if (strcmp(a, "--n") == 0) {
            if (parse_int(a, v, 1, 4096, &x)) return 2;
            o.n = (int)x, i++;
        } else if (strcmp(a, "--cols") == 0) {
            if (parse_int(a, v, 1, 4096, &x)) return 2;
            o.cols = (int)x, i++;
        } else if (strcmp(a, "--scale") == 0) {
            if (parse_int(a, v, 1, 16, &x)) return 2;
            o.scale = (int)x, i++;
        } else if (strcmp(a, "--pairs") == 0) {
            o.pairs = 1;
        } else if (strcmp(a, "--no-augment") == 0) {
            augment_off(&o.aug);
        } else if (strcmp(a, "--no-mirror") == 0) {
            o.aug.mirror_prob = 0;
        } else if (cli_positional("data preview", a, &cache, "cache", usage)) {
            return 2;
        }
    }
    if (!cache || !out) {
        usage(stderr);
        return 2;
    }
    FrameCache *c = NULL;
    uint8_t *rgb = NULL;
    PreviewTile *tiles = NULL;
    int w = 0, h = 0;
    int rc = cache_open(&c, cache);
    if (!rc) rc = preview_grid(c, &o, &rgb, &w, &h, &tiles);
    if (!rc) rc = preview_write_png(out, rgb, w, h);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
    } else {
        printf("%s: %d tiles, %dx%d pixels, seed %llu\n", out, o.n, w, h, (unsigned long long)o.seed);
        for (int i = 0; i < o.n; i++)
            printf("  %2d  %s frame %d%s  \"%s\"\n", i, cache_episode(c, tiles[i].episode)->file, tiles[i].t,
                   tiles[i].mirrored ? " (mirrored)" : "", tiles[i].instruction);
    }
    preview_tiles_free(tiles, o.n);
    free(rgb);
    cache_close(c);
    return rc ? 1 : 0;
}
