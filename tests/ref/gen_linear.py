"""Reference outputs for tests/test_ops_linear.c: matmul (transposes, batched, shared B) and linear."""
import torch
from refgen import det_tensor, save

out = {}
# matmul with every transpose combination, batched [2, 3] x [2, 3]
for ta in (0, 1):
    for tb in (0, 1):
        a = det_tensor(10 + 2 * ta + tb, 2, *((4, 3) if ta else (3, 4))).requires_grad_()
        b = det_tensor(20 + 2 * ta + tb, 2, *((5, 4) if tb else (4, 5))).requires_grad_()
        c = (a.transpose(-1, -2) if ta else a) @ (b.transpose(-1, -2) if tb else b)
        gc = det_tensor(30 + 2 * ta + tb, *c.shape)
        c.backward(gc)
        k = f"matmul_t{ta}{tb}"
        out.update({f"{k}.a": a, f"{k}.b": b, f"{k}.y": c, f"{k}.gy": gc, f"{k}.ga": a.grad, f"{k}.gb": b.grad})
# shared 2-D right operand
a = det_tensor(40, 2, 3, 4).requires_grad_()
b = det_tensor(41, 4, 6).requires_grad_()
c = a @ b
gc = det_tensor(42, *c.shape)
c.backward(gc)
out.update({"matmul_shared.a": a, "matmul_shared.b": b, "matmul_shared.y": c, "matmul_shared.gy": gc,
            "matmul_shared.ga": a.grad, "matmul_shared.gb": b.grad})
# linear
lin = torch.nn.Linear(7, 5)
with torch.no_grad():
    lin.weight.copy_(det_tensor(50, 5, 7))
    lin.bias.copy_(det_tensor(51, 5))
x = det_tensor(52, 2, 3, 7).requires_grad_()
y = lin(x)
gy = det_tensor(53, *y.shape)
y.backward(gy)
out.update({"linear.x": x, "linear.w": lin.weight, "linear.b": lin.bias, "linear.y": y, "linear.gy": gy,
            "linear.gx": x.grad, "linear.gw": lin.weight.grad, "linear.gb": lin.bias.grad})
save("linear", out)
