"""Reference outputs for tests/test_ops_conv.c: F.conv2d in every kernel path of op_conv2d
(im2col, 1x1, depthwise), with the input, weight and bias gradients for a fixed upstream gradient."""
import torch
import torch.nn.functional as F
from refgen import det_tensor, save

# name: (x shape, w shape, bias?, stride, padding, dilation, groups); mirrored by CASES in test_ops_conv.c
CASES = {
    "s2p1": ((2, 4, 7, 7), (6, 4, 3, 3), True, (2, 2), (1, 1), (1, 1), 1),
    "grouped": ((2, 4, 6, 6), (6, 2, 3, 3), True, (1, 1), (1, 1), (1, 1), 2),
    "dw": ((2, 5, 6, 6), (5, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 5),
    "dw_s2": ((1, 4, 7, 7), (4, 1, 3, 3), False, (2, 2), (1, 1), (1, 1), 4),
    "dw5_s2": ((1, 3, 9, 8), (3, 1, 5, 5), True, (2, 2), (2, 2), (1, 1), 3),
    "dw_dil": ((1, 3, 7, 7), (3, 1, 3, 3), False, (1, 2), (2, 1), (2, 1), 3),
    "dw_mult": ((1, 3, 5, 5), (6, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 3),
    "pw": ((2, 6, 5, 5), (4, 6, 1, 1), True, (1, 1), (0, 0), (1, 1), 1),
    "pw_grouped": ((1, 6, 4, 4), (4, 3, 1, 1), False, (1, 1), (0, 0), (1, 1), 2),
    "pw_s2": ((1, 6, 5, 5), (4, 6, 1, 1), True, (2, 2), (0, 0), (1, 1), 1),
    "rect": ((1, 3, 7, 6), (4, 3, 3, 2), True, (2, 1), (1, 0), (1, 2), 1),
    "dil": ((1, 2, 8, 8), (3, 2, 3, 3), False, (1, 1), (2, 2), (2, 2), 1),
}

out = {}
for i, (k, (xs, ws, has_b, stride, pad, dil, groups)) in enumerate(CASES.items()):
    x = det_tensor(100 + 10 * i, *xs).requires_grad_()
    w = det_tensor(101 + 10 * i, *ws, scale=0.5).requires_grad_()
    b = det_tensor(102 + 10 * i, ws[0]).requires_grad_() if has_b else None
    y = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    gy = det_tensor(103 + 10 * i, *y.shape)
    y.backward(gy)
    out.update({f"{k}.x": x, f"{k}.w": w, f"{k}.y": y, f"{k}.gy": gy, f"{k}.gx": x.grad, f"{k}.gw": w.grad})
    if has_b:
        out.update({f"{k}.b": b, f"{k}.gb": b.grad})
save("conv", out)
