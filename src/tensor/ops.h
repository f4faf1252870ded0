/* Every op family of the tensor engine. */
#ifndef MVLA_OPS_H
#define MVLA_OPS_H

#include "tensor/ops_activation.h"
#include "tensor/ops_attention.h"
#include "tensor/ops_conv.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_linear.h"
#include "tensor/ops_loss.h"
#include "tensor/ops_lstm.h"
#include "tensor/ops_norm.h"
#include "tensor/ops_pool.h"
#include "tensor/ops_shape.h"
#include "tensor/ops_softmax.h"

#endif
