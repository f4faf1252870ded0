"""Reference outputs for tests/test_ops_attention.c: multi-head attention computed by hand
(softmax(q k^T * scale + mask) v per head; a query with every key masked gives zeros), and
torch.nn.MultiheadAttention for one self-attention case (projections done in C with op_linear).
Masks are stored as float 0/1 (1 = masked)."""
import math

import torch
from refgen import det_tensor, save


def attention(q, k, v, heads, causal, pad, scale):
    """q [B,Tq,D], k [B,Tk,D], v [B,Tk,Dv], pad [B,Tk] bool (True = padded) or None."""
    B, Tq, D = q.shape
    Tk, Dv = k.shape[1], v.shape[2]
    hd, hdv = D // heads, Dv // heads
    if scale <= 0:
        scale = 1.0 / math.sqrt(hd)
    qh = q.view(B, Tq, heads, hd).transpose(1, 2)
    kh = k.view(B, Tk, heads, hd).transpose(1, 2)
    vh = v.view(B, Tk, heads, hdv).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) * scale                      # [B, H, Tq, Tk]
    mask = torch.zeros(B, 1, Tq, Tk, dtype=torch.bool)
    if causal:  # query i sees keys j <= i + (Tk - Tq)
        i = torch.arange(Tq).view(Tq, 1)
        j = torch.arange(Tk).view(1, Tk)
        mask = mask | (j > i + (Tk - Tq)).view(1, 1, Tq, Tk)
    if pad is not None:
        mask = mask | pad.view(B, 1, 1, Tk)
    mask = mask.expand(B, heads, Tq, Tk)
    p = torch.softmax(s.masked_fill(mask, -1e30), dim=-1) * (~mask).float()  # all-masked rows -> 0
    o = p @ vh                                                 # [B, H, Tq, hdv]
    return o.transpose(1, 2).reshape(B, Tq, Dv)


out = {}
# name: B, Tq, Tk, D, Dv, heads, causal, padded keys per batch (None = no mask), scale
cases = {
    "self_causal_2h": (2, 4, 4, 8, 8, 2, True, None, 0.0),
    "cross_4h": (2, 3, 5, 8, 12, 4, False, None, 0.3),
    "pad_2h": (2, 5, 5, 6, 6, 2, False, [[3, 4], [0]], 0.0),
    # batch 1 pads key 0, so its query 0 (causal: sees key 0 only) has no key: zeros
    "pad_causal_4h": (2, 5, 5, 8, 8, 4, True, [[4], [0, 2]], 0.0),
    # causal cross-attention, aligned at the end: query i sees keys j <= i + (Tk - Tq)
    "cross_causal_2h": (2, 3, 5, 8, 8, 2, True, None, 0.0),
    # Tq > Tk: the first Tq - Tk queries see no key (zeros)
    "causal_tq_gt_tk_1h": (1, 4, 2, 4, 4, 1, True, None, 0.0),
}
for ci, (name, (B, Tq, Tk, D, Dv, heads, causal, padded, scale)) in enumerate(cases.items()):
    q = det_tensor(100 + 10 * ci, B, Tq, D).requires_grad_()
    k = det_tensor(101 + 10 * ci, B, Tk, D).requires_grad_()
    v = det_tensor(102 + 10 * ci, B, Tk, Dv).requires_grad_()
    pad = None
    if padded is not None:
        pad = torch.zeros(B, Tk, dtype=torch.bool)
        for b, js in enumerate(padded):
            pad[b, js] = True
        out[f"{name}.pad"] = pad.float()
    o = attention(q, k, v, heads, causal, pad, scale)
    go = det_tensor(103 + 10 * ci, *o.shape)
    o.backward(go)
    out.update({f"{name}.q": q, f"{name}.k": k, f"{name}.v": v, f"{name}.out": o, f"{name}.gout": go,
                f"{name}.gq": q.grad, f"{name}.gk": k.grad, f"{name}.gv": v.grad})

# torch.nn.MultiheadAttention, self-attention, causal + key padding
E, H, B, T = 8, 2, 2, 4
mha = torch.nn.MultiheadAttention(E, H, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(det_tensor(200, 3 * E, E, scale=0.5))
    mha.in_proj_bias.copy_(det_tensor(201, 3 * E, scale=0.5))
    mha.out_proj.weight.copy_(det_tensor(202, E, E, scale=0.5))
    mha.out_proj.bias.copy_(det_tensor(203, E, scale=0.5))
x = det_tensor(204, B, T, E).requires_grad_()
causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
pad = torch.zeros(B, T, dtype=torch.bool)
pad[1, 3] = True
y, _ = mha(x, x, x, attn_mask=causal, key_padding_mask=pad, need_weights=False)
gy = det_tensor(205, *y.shape)
y.backward(gy)
out.update({"mha.x": x, "mha.pad": pad.float(), "mha.in_w": mha.in_proj_weight, "mha.in_b": mha.in_proj_bias,
            "mha.out_w": mha.out_proj.weight, "mha.out_b": mha.out_proj.bias, "mha.y": y, "mha.gy": gy,
            "mha.gx": x.grad, "mha.g_in_w": mha.in_proj_weight.grad, "mha.g_in_b": mha.in_proj_bias.grad,
            "mha.g_out_w": mha.out_proj.weight.grad, "mha.g_out_b": mha.out_proj.bias.grad})
save("attention", out)
