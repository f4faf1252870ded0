/* Deterministic random numbers (xoshiro256**, seeded by splitmix64): the same seed gives
 * the same stream on every machine. */
#ifndef MVLA_RNG_H
#define MVLA_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);

/* The next 64 random bits. Inline: per-pixel loops (augmentation noise) draw one value each. */
static inline uint64_t rng_next(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, 1). */
float rng_uniform(Rng *r);
/* Uniform integer in [0, n). */
uint32_t rng_below(Rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float rng_normal(Rng *r);
/* Fills x[0..n) with normal(0, std). */
void rng_fill_normal(Rng *r, float *x, long n, float std);
/* Fills x[0..n) with uniform(lo, hi). */
void rng_fill_uniform(Rng *r, float *x, long n, float lo, float hi);

#endif
