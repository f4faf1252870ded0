/* Parameter initialisation, PyTorch's defaults: nn.Linear and nn.Conv2d draw weights and biases
 * from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)). */
#ifndef MVLA_INIT_H
#define MVLA_INIT_H

#include "tensor/tensor.h"

void init_uniform_fan_in(Tensor *t, int fan_in, Rng *rng);

#endif
