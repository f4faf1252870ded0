/* Deterministic random numbers (xoshiro256**, seeded by splitmix64): the same seed gives
 * the same stream on every machine. */
#ifndef MVLA_RNG_H
#define MVLA_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
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
