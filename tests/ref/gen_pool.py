"""Reference outputs for tests/test_ops_pool.c: F.max_pool2d, F.avg_pool2d (count_include_pad on and off),
F.adaptive_avg_pool2d / F.adaptive_max_pool2d to 1x1, with input gradients for a fixed upstream gradient."""
import torch.nn.functional as F
from refgen import det_tensor, save

# name: (kind, x shape, kernel, stride, padding); mirrored by CASES in test_ops_pool.c
CASES = {
    "max_k3s2p1": ("max", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1)),
    "max_k2s2": ("max", (1, 2, 6, 5), (2, 2), (2, 2), (0, 0)),
    "max_k3s1p1": ("max", (1, 2, 5, 5), (3, 3), (1, 1), (1, 1)),
    "max_rect": ("max", (1, 2, 7, 6), (3, 2), (2, 1), (1, 1)),
    "avg_k3s2p1": ("avg", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1)),
    "avg_k3s2p1_ex": ("avg_ex", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1)),
    "avg_k2s2": ("avg", (1, 2, 7, 6), (2, 2), (2, 2), (0, 0)),
    "avg_rect_ex": ("avg_ex", (1, 2, 6, 7), (3, 2), (1, 2), (1, 1)),
    "gavg": ("gavg", (2, 3, 4, 5), None, None, None),
    "gmax": ("gmax", (2, 3, 4, 5), None, None, None),
}

out = {}
for i, (k, (kind, xs, kern, stride, pad)) in enumerate(CASES.items()):
    x = det_tensor(400 + 10 * i, *xs).requires_grad_()
    if kind == "max":
        y = F.max_pool2d(x, kern, stride, pad)
    elif kind in ("avg", "avg_ex"):
        y = F.avg_pool2d(x, kern, stride, pad, count_include_pad=(kind == "avg"))
    elif kind == "gavg":
        y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    else:
        y = F.adaptive_max_pool2d(x, 1).flatten(1)
    gy = det_tensor(401 + 10 * i, *y.shape)
    y.backward(gy)
    out.update({f"{k}.x": x, f"{k}.y": y, f"{k}.gy": gy, f"{k}.gx": x.grad})
save("pool", out)
