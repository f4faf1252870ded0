#include "nn/init.h"

#include <math.h>

void init_uniform_fan_in(Tensor *t, int fan_in, Rng *rng)
{
    float bound = fan_in > 0 ? 1.0f / sqrtf((float)fan_in) : 0.0f;
    tensor_fill_uniform(t, rng, -bound, bound);
}
