"""Reference for tests/test_mobilenet.c: the MobileNet encoder of src/models/mobilenet.c re-implemented in
PyTorch with the same checkpoint names, run on random weights in eval mode (output) and in training mode
(output, gradients of sum(y * gy) with respect to the input and every parameter, and the updated batch
norm running statistics).

The encoder config travels in the file's metadata ("config", a student policy config) so the C test
builds exactly this network. Run: /usr/bin/python3 tests/ref/gen_mobilenet.py
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from refgen import det_tensor, save

BN_MOMENTUM, BN_EPS = 0.1, 1e-5
CONFIG = {
    "encoder": {
        "input_width": 16, "input_height": 20, "width_mult": 1.0, "stem_channels": 8, "stem_act": "hardswish",
        "blocks": [
            {"kernel": 3, "expand": 8, "out": 8, "stride": 1, "se": True, "act": "relu"},        # no expand, residual
            {"kernel": 5, "expand": 24, "out": 16, "stride": 2, "se": False, "act": "hardswish"},
            {"kernel": 3, "expand": 32, "out": 16, "stride": 1, "se": True, "act": "hardswish"},  # expand + SE + residual
        ],
        "se_ratio": 0.25, "final_channels": 24, "final_act": "hardswish", "pool": "avg",
        "bn_momentum": BN_MOMENTUM, "bn_eps": BN_EPS,
    },
    "fusion": {"stages": [2]},
}


def scaled(c, mult):
    """src/models/policy_config.c student_scaled_channels."""
    v = c * mult
    n = max(8, int(v + 4) // 8 * 8)
    return n + 8 if n < 0.9 * v else n


def act(kind, x):
    return F.relu(x) if kind == "relu" else F.hardswish(x)


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        return self.bn(self.conv(x))


class SE(nn.Module):
    def __init__(self, c, s):
        super().__init__()
        self.reduce, self.expand = nn.Linear(c, s), nn.Linear(s, c)

    def forward(self, x):
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class Block(nn.Module):
    def __init__(self, cin, b, mult, se_ratio):
        super().__init__()
        e, out = scaled(b["expand"], mult), scaled(b["out"], mult)
        self.kind, self.has_expand = b["act"], e != cin
        self.residual = b["stride"] == 1 and cin == out
        if self.has_expand:
            self.expand = nn.Conv2d(cin, e, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(e, eps=BN_EPS, momentum=BN_MOMENTUM)
        k = b["kernel"]
        self.dw = nn.Conv2d(e, e, k, b["stride"], k // 2, groups=e, bias=False)
        self.dw_bn = nn.BatchNorm2d(e, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.se = SE(e, scaled(e, se_ratio)) if b["se"] else None
        self.project = nn.Conv2d(e, out, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.out = out

    def forward(self, x):
        h = act(self.kind, self.expand_bn(self.expand(x))) if self.has_expand else x
        h = act(self.kind, self.dw_bn(self.dw(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project(h))
        return h + x if self.residual else h


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        cin = scaled(c["stem_channels"], c["width_mult"])
        self.stem = ConvBN(3, cin, 3, 2, 1)
        blocks = []
        for b in c["blocks"]:
            blocks.append(Block(cin, b, c["width_mult"], c["se_ratio"]))
            cin = blocks[-1].out
        self.blocks = nn.ModuleList(blocks)
        self.final = ConvBN(cin, c["final_channels"], 1, 1, 1)

    def forward(self, x):
        h = act(self.c["stem_act"], self.stem(x))
        for b in self.blocks:
            h = b(h)
        return act(self.c["final_act"], self.final(h))


def main():
    torch.manual_seed(0)
    enc_cfg = CONFIG["encoder"]
    m = Encoder(enc_cfg)
    # Random weights and batch norm statistics, drawn with numpy so they do not depend on torch's RNG.
    seed = 1000
    with torch.no_grad():
        for name, t in list(m.named_parameters()) + list(m.named_buffers()):
            seed += 1
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.tensor(np.random.default_rng(seed).uniform(0.5, 1.5, t.shape).astype(np.float32)))
            elif name.endswith("running_mean") or (".bn" in name or "_bn" in name) and name.endswith("bias"):
                t.copy_(det_tensor(seed, *t.shape, scale=0.1))
            elif ("bn" in name) and name.endswith("weight"):
                t.copy_(1 + det_tensor(seed, *t.shape, scale=0.1))
            else:
                fan_in = t[0].numel() if t.dim() > 1 else t.numel()
                t.copy_(det_tensor(seed, *t.shape, scale=(2.0 / fan_in) ** 0.5))
    state = {"encoder." + k: v.clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}

    x = det_tensor(7, 2, 3, enc_cfg["input_height"], enc_cfg["input_width"])
    m.eval()
    with torch.no_grad():
        y_eval = m(x)
    m.train()
    xg = x.clone().requires_grad_()
    y_train = m(xg)
    gy = det_tensor(8, *y_train.shape)
    y_train.backward(gy)

    out = dict(state)
    out.update({"x": x, "y_eval": y_eval, "y_train": y_train, "gy": gy, "grad.x": xg.grad})
    for k, p in m.named_parameters():
        out["grad.encoder." + k] = p.grad
    for k, b in m.named_buffers():
        if k.endswith("running_mean") or k.endswith("running_var"):
            out["after.encoder." + k] = b
    save("mobilenet", out, metadata={"config": json.dumps(CONFIG)})


if __name__ == "__main__":
    main()
