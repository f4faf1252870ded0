/* The step-mode runners' feature ring (see feature_ring.h). */
#include "models/feature_ring.h"

#include <string.h>

void feature_ring_push(float *ring, int W, int D, long seen, const float *f)
{
    memcpy(ring + (seen % W) * D, f, (size_t)D * sizeof(float));
}

int feature_ring_window(const float *ring, int W, int D, long seen, float *win, float *mask)
{
    int padded = 0;
    for (int t = 0; t < W; t++) {
        long frame = seen - W + t;
        mask[t] = frame >= 0;
        padded |= frame < 0;
        if (frame >= 0) memcpy(win + (long)t * D, ring + (frame % W) * D, (size_t)D * sizeof(float));
        else memset(win + (long)t * D, 0, (size_t)D * sizeof(float));
    }
    return padded;
}
