"""Reference outputs for tests/test_ops_shape.c: permute, transpose, reshape, flatten, slice, cat,
embedding, index_select, per-batch gather and expand, with input gradients.

Each single-input case <key> stores <key>.x (input), <key>.gy (upstream gradient), <key>.y (output)
and <key>.gx (input gradient). Integer indices are stored as float32 (<key>.ids / .index / .t).
"""
import torch
from refgen import det_tensor, save

out = {}
seed = [100]


def case(key, x_shape, fn):
    """Runs y = fn(x) and y.backward(gy) on deterministic data and stores x, gy, y, gx."""
    seed[0] += 2
    x = det_tensor(seed[0], *x_shape).requires_grad_()
    y = fn(x)
    gy = det_tensor(seed[0] + 1, *y.shape)
    y.backward(gy)
    out.update({f"{key}.x": x, f"{key}.gy": gy, f"{key}.y": y, f"{key}.gx": x.grad})


case("permute_bthd", (2, 3, 4, 5), lambda x: x.permute(0, 2, 1, 3))
case("permute_general", (2, 3, 4, 5), lambda x: x.permute(3, 1, 0, 2))
case("permute_5d", (2, 3, 1, 4, 2), lambda x: x.permute(4, 0, 3, 2, 1))
case("transpose_last", (2, 3, 4), lambda x: x.transpose(-1, -2))
case("transpose_outer", (3, 4, 5), lambda x: x.transpose(0, 2))
case("reshape", (2, 3, 4), lambda x: x.reshape(4, -1))
case("flatten", (2, 3, 4), lambda x: x.flatten(1))
case("slice_mid", (2, 5, 3), lambda x: x[:, 1:4])
case("slice_end", (2, 5, 3), lambda x: x[:, 3:])
case("slice_neg", (2, 5, 3), lambda x: x[..., -2:])
case("expand", (2, 3), lambda x: x.unsqueeze(0).expand(4, 2, 3))

index = torch.tensor([2, 0, 2])
case("index_select", (2, 4, 3), lambda x: x.index_select(1, index))
out["index_select.index"] = index.float()

t = torch.tensor([3, 0, 2])
case("select_per_batch", (3, 4, 5), lambda x: x[torch.arange(3), t])
out["select_per_batch.t"] = t.float()

# embedding with a repeated id (3 appears three times: its gradient row accumulates)
ids = torch.tensor([[1, 3, 3], [6, 0, 3]])
case("embedding", (7, 4), lambda w: torch.nn.functional.embedding(ids, w))
out["embedding.ids"] = ids.float()

# cat of three tensors along a middle dim
parts = [det_tensor(200 + i, 2, i + 1, 3).requires_grad_() for i in range(3)]
y = torch.cat(parts, dim=1)
gy = det_tensor(210, *y.shape)
y.backward(gy)
out.update({"cat3.y": y, "cat3.gy": gy})
for name, p in zip("abc", parts):
    out.update({f"cat3.{name}": p, f"cat3.g{name}": p.grad})

save("shape", out)
