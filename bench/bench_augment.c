/* Training-time augmentation (data/augment.h) per frame: the default student's draws (geometry, colour,
 * blur, noise) on a 128x128 camera-like frame, as the sequence loader applies them (one draw per
 * segment, a frame index per frame).
 *   build/bench/bench_augment [--frames N] [--rounds R]
 * Prints ms per frame (best of R rounds of N frames, one thread) and a checksum of the augmented bytes,
 * so two builds can be checked to augment alike. */
#include "base/progress.h"
#include "base/rng.h"
#include "data/augment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = 128, H = 128, SEGMENT = 31 /* frames per segment: window 16 + 16 positions - 1 */ };

/* Floor and sky gradients, a box, some texture. */
static void synth(uint8_t *f)
{
    Rng r;
    rng_seed(&r, 7);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int up = y < H / 2, box = x > W / 3 && x < W / 2 && y > H / 3 && y < 3 * H / 4;
            uint64_t n = rng_next(&r);
            for (int c = 0; c < 3; c++) {
                int v = (box ? 150 : up ? 170 - 60 * y / H : 80 + 90 * y / H) + 20 * c + (int)((n >> (8 * c)) & 15);
                f[((size_t)y * W + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
}

int main(int argc, char **argv)
{
    int frames = 1240, rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--frames N] [--rounds R]\n", argv[0]);
            return 2;
        }
    }
    if (frames < 1 || rounds < 1) return 2;
    uint8_t *src = malloc(W * H * 3), *dst = malloc(W * H * 3);
    if (!src || !dst) return 1;
    synth(src);
    AugmentParams p;
    augment_defaults(&p);
    double best = 1e30;
    uint64_t checksum = 0;
    for (int r = 0; r < rounds; r++) {
        Rng rng;
        rng_seed(&rng, 1);
        AugmentDraw d;
        uint64_t sum = 0;
        double t0 = time_now();
        for (int i = 0; i < frames; i++) {
            if (i % SEGMENT == 0) augment_draw(&p, &rng, W, H, &d);
            if (augment_image(&d, i % SEGMENT, src, dst, W, H)) return 1;
            for (int k = 0; k < W * H * 3; k += 97) sum = sum * 31 + dst[k];
        }
        double t = time_now() - t0;
        if (t < best) best = t;
        checksum = sum;
    }
    printf("augment_image %dx%d, default draws: %.4f ms/frame (best of %d rounds of %d frames), checksum %016llx\n", W,
           H, 1e3 * best / frames, rounds, frames, (unsigned long long)checksum);
    free(src);
    free(dst);
    return 0;
}
