"""Reference outputs for the pointwise op families (tests/test_ops_{elementwise,activation,softmax,loss}.c):
element-wise arithmetic with broadcasting, reductions, activations, softmax / log-softmax and losses.
Writes tests/ref/pointwise.safetensors. For each case `k`: inputs k.<name>, the upstream gradient k.gy
(losses: none, their scalar is seeded with 1), the output k.y and the input gradients k.g<name>."""
import torch
import torch.nn.functional as F
from refgen import det_tensor, save

out = {}


def record(key, fn, inputs, seed, upstream=True):
    """Runs y = fn(*inputs) with every input requiring grad; backward from a det_tensor upstream gradient
    (or 1 for a scalar loss); stores inputs, y, gy and input gradients under key."""
    ins = {name: t.clone().requires_grad_() for name, t in inputs.items()}
    y = fn(*ins.values())
    gy = det_tensor(seed, *y.shape) if upstream else torch.ones(())
    y.backward(gy)
    for name, t in ins.items():
        out[f"{key}.{name}"] = t
        out[f"{key}.g{name}"] = t.grad
    out[f"{key}.y"] = y
    if upstream:
        out[f"{key}.gy"] = gy


# ---- elementwise: broadcasting pairs, both directions ----
pairs = {
    "same": ((2, 3, 4), (2, 3, 4)),
    "last": ((2, 3, 4), (4,)),
    "last_rev": ((4,), (2, 3, 4)),
    "cross": ((2, 1, 4), (3, 1)),
    "cross_rev": ((3, 1), (2, 1, 4)),
    "one": ((2, 3, 4), (1,)),
    "one_rev": ((1,), (2, 3, 4)),
}
binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}
seed = 100
for op, fn in binary.items():
    for case, (sa, sb) in pairs.items():
        record(f"{op}_{case}", fn, {"a": det_tensor(seed, *sa), "b": det_tensor(seed + 1, *sb)}, seed + 2)
        seed += 3
record("bias", lambda x, b: x + b, {"x": det_tensor(200, 2, 3, 5), "b": det_tensor(201, 5)}, 202)
record("bias_channels4", lambda x, b: x + b.view(-1, 1, 1), {"x": det_tensor(203, 2, 3, 4, 5), "b": det_tensor(204, 3)},
       205)
record("bias_channels3", lambda x, b: x + b.view(-1, 1, 1), {"x": det_tensor(206, 3, 4, 5), "b": det_tensor(207, 3)},
       208)
record("scale", lambda x: x * -1.7, {"x": det_tensor(210, 2, 3, 4)}, 211)
record("add_scalar", lambda x: x + 0.6, {"x": det_tensor(212, 2, 3, 4)}, 213)
record("sum", torch.sum, {"x": det_tensor(214, 2, 3, 4)}, 215)
record("mean", torch.mean, {"x": det_tensor(216, 2, 3, 4)}, 217)
seed = 220
for red in ("sum", "mean"):
    for dim in (0, 1, -1):
        for keep in (0, 1):
            fn = (lambda x, d=dim, k=keep, r=red: getattr(torch, r)(x, dim=d, keepdim=bool(k)))
            record(f"{red}_dim{dim}_k{keep}", fn, {"x": det_tensor(seed, 2, 3, 4)}, seed + 1)
            seed += 2

# ---- activations: random values over [-6, 6] plus the kinks themselves ----
x = det_tensor(300, 3, 16, scale=2.5)
kinks = torch.tensor([-3.0, 0.0, 3.0, -4.0, 4.0, 1e-3, -1e-3, 2.999, -2.999, 3.001, -3.001, 8.0, -8.0, 0.5, -0.5, 20.0])
x = torch.cat([x, kinks.view(1, 16)])
acts = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "quick_gelu": lambda t: t * torch.sigmoid(1.702 * t),
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
}
for i, (name, fn) in enumerate(acts.items()):
    record(name, fn, {"x": x}, 310 + i)

# ---- softmax family: random rows, one row far from 0 (stability) ----
x = det_tensor(400, 2, 4, 6, scale=3.0)
x[1, 2] += 1000.0
x[0, 1] -= 1000.0
record("softmax", lambda t: torch.softmax(t, -1), {"x": x}, 401)
record("log_softmax", lambda t: torch.log_softmax(t, -1), {"x": x}, 402)

# ---- losses (upstream gradient 1) ----
pred, target = det_tensor(500, 4, 6), det_tensor(501, 4, 6)
two = {"pred": pred, "target": target}
record("mse", F.mse_loss, two, 0, upstream=False)
record("l1", F.l1_loss, two, 0, upstream=False)
record("huber", lambda p, t: F.huber_loss(p, t, delta=0.7), two, 0, upstream=False)
record("huber1", F.huber_loss, two, 0, upstream=False)
pred, target = det_tensor(502, 2, 3, 4), det_tensor(503, 2, 3, 4)
mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
mask_full = (det_tensor(504, 2, 3, 4) > 0).float()
out["masked.mask"] = mask
out["masked.mask_full"] = mask_full


def masked(loss_fn, m):
    m = m if m.dim() == 3 else m[..., None].expand(2, 3, 4)
    return lambda p, t: (loss_fn(p, t, reduction="none") * m).sum() / m.sum()


for name, fn in (("mse", F.mse_loss), ("l1", F.l1_loss), ("huber", lambda p, t, reduction: F.huber_loss(
        p, t, reduction=reduction, delta=0.7))):
    record(f"{name}_masked", masked(fn, mask), {"pred": pred, "target": target}, 0, upstream=False)
    record(f"{name}_masked_full", masked(fn, mask_full), {"pred": pred, "target": target}, 0, upstream=False)

logits = det_tensor(510, 6, 5, scale=2.0)
targets = torch.tensor([0, 4, 2, -100, 1, 2])
out["ce.targets"] = targets.float()
record("ce", lambda t: F.cross_entropy(t, targets), {"logits": logits}, 0, upstream=False)
record("ce_ignore2", lambda t: F.cross_entropy(t, targets.clamp(min=0), ignore_index=2), {"logits": logits}, 0,
       upstream=False)
out["ce_ignore2.targets"] = targets.clamp(min=0).float()

save("pointwise", out)
