"""Reference outputs for tests/test_ops_norm.c: F.batch_norm (training and eval, with the running
statistics after one training step) and F.layer_norm (with and without affine), with input gradients."""
import numpy as np
import torch
import torch.nn.functional as F
from refgen import det_tensor, save

out = {}


def batchnorm_case(key, seed, shape, training, affine, momentum, eps=1e-5):
    C = shape[1]
    x = det_tensor(seed, *shape).mul_(2).add_(0.5).requires_grad_()
    gamma = (1 + 0.3 * det_tensor(seed + 1, C)).requires_grad_() if affine else None
    beta = det_tensor(seed + 2, C).requires_grad_() if affine else None
    rm = 0.2 * det_tensor(seed + 3, C)
    rv = torch.tensor(np.random.default_rng(seed + 4).uniform(0.5, 2.0, C).astype(np.float32))
    out.update({f"{key}.x": x, f"{key}.running_mean": rm.clone(), f"{key}.running_var": rv.clone()})
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
    gy = det_tensor(seed + 5, *y.shape)
    y.backward(gy)
    out.update({f"{key}.y": y, f"{key}.gy": gy, f"{key}.gx": x.grad,
                f"{key}.running_mean_after": rm, f"{key}.running_var_after": rv})
    if affine:
        out.update({f"{key}.gamma": gamma, f"{key}.beta": beta, f"{key}.ggamma": gamma.grad, f"{key}.gbeta": beta.grad})


def layernorm_case(key, seed, shape, affine, eps=1e-5):
    D = shape[-1]
    x = det_tensor(seed, *shape).mul_(1.5).add_(0.3).requires_grad_()
    gamma = (1 + 0.3 * det_tensor(seed + 1, D)).requires_grad_() if affine else None
    beta = det_tensor(seed + 2, D).requires_grad_() if affine else None
    y = F.layer_norm(x, (D,), gamma, beta, eps)
    gy = det_tensor(seed + 5, *y.shape)
    y.backward(gy)
    out.update({f"{key}.x": x, f"{key}.y": y, f"{key}.gy": gy, f"{key}.gx": x.grad})
    if affine:
        out.update({f"{key}.gamma": gamma, f"{key}.beta": beta, f"{key}.ggamma": gamma.grad, f"{key}.gbeta": beta.grad})


# key, seed, shape, training, affine, momentum: mirrored by BN_CASES in test_ops_norm.c
batchnorm_case("bn_train", 200, (3, 4, 3, 3), True, True, 0.1)
batchnorm_case("bn_eval", 210, (2, 4, 3, 3), False, True, 0.1)
batchnorm_case("bn_train_1d", 220, (6, 5), True, False, 0.2)
layernorm_case("ln", 300, (2, 3, 8), True)
layernorm_case("ln_plain", 310, (4, 6), False)
save("norm", out)
