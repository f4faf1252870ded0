"""Reference outputs for tests/test_ops_lstm.c: torch.nn.LSTM, 2 layers, batch_first, with
initial states; gradients of the input, initial states and every weight for a loss that
uses the output sequence, h_n and c_n."""
import torch
from refgen import det_tensor, save

B, T, I, H, L = 2, 4, 3, 5, 2
lstm = torch.nn.LSTM(I, H, num_layers=L, batch_first=True)
names = [n for n, _ in lstm.named_parameters()]  # weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...
with torch.no_grad():
    for i, (n, p) in enumerate(lstm.named_parameters()):
        p.copy_(det_tensor(300 + i, *p.shape, scale=0.5))
x = det_tensor(320, B, T, I).requires_grad_()
h0 = det_tensor(321, L, B, H, scale=0.5).requires_grad_()
c0 = det_tensor(322, L, B, H, scale=0.5).requires_grad_()
y, (hn, cn) = lstm(x, (h0, c0))
gy, ghn, gcn = det_tensor(323, *y.shape), det_tensor(324, *hn.shape), det_tensor(325, *cn.shape)
torch.autograd.backward([y, hn, cn], [gy, ghn, gcn])
out = {"x": x, "h0": h0, "c0": c0, "y": y, "hn": hn, "cn": cn, "gy": gy, "ghn": ghn, "gcn": gcn,
       "gx": x.grad, "gh0": h0.grad, "gc0": c0.grad}
for n, p in lstm.named_parameters():
    out[f"lstm.{n}"] = p
    out[f"grad.{n}"] = p.grad
save("lstm", out)
