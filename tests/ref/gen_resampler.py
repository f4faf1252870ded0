"""Reference outputs for tests/test_resampler.c: a Perceiver resampler written in plain PyTorch the way
Flamingo / RoboVLMs describe it (latents cross-attend to [media ; latents] through a fused to_kv
projection split in two halves, q scaled by dim_head^-0.5, bias-free projections, GELU MLP, residuals,
final LayerNorm), plus the visual-tokens-only variant. Weights are saved under mvla's parameter names
(to_kv split into to_k / to_v), with the output y for an input x and, for a seed gradient gy, the
gradients of x and of every parameter (g.<name>).
Run: /usr/bin/python3 tests/ref/gen_resampler.py"""
import torch
import torch.nn.functional as F
from refgen import det_tensor, save


def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def resampler(x, p, cfg):
    B, Tv, _ = x.shape
    heads, dh, depth, kv_latents = cfg["heads"], cfg["dim_head"], cfg["depth"], cfg["kv_latents"]
    if "in_proj.weight" in p:
        x = x @ p["in_proj.weight"].t() + p["in_proj.bias"]
    lat = p["latents"].unsqueeze(0).expand(B, -1, -1)
    for i in range(depth):
        L = lambda n: p[f"layers.{i}.{n}"]
        xn = layer_norm(x, L("attn.norm_media.weight"), L("attn.norm_media.bias"))
        ln = layer_norm(lat, L("attn.norm_latents.weight"), L("attn.norm_latents.bias"))
        q = ln @ L("attn.to_q.weight").t() * dh ** -0.5
        kv_in = torch.cat([xn, ln], dim=1) if kv_latents else xn
        to_kv = torch.cat([L("attn.to_k.weight"), L("attn.to_v.weight")], dim=0)  # Flamingo's fused to_kv
        k, v = (kv_in @ to_kv.t()).chunk(2, dim=-1)
        split = lambda t: t.view(B, t.shape[1], heads, dh).transpose(1, 2)
        qh, kh, vh = split(q), split(k), split(v)
        sim = qh @ kh.transpose(-1, -2)
        attn = (sim - sim.amax(dim=-1, keepdim=True).detach()).softmax(dim=-1)
        o = (attn @ vh).transpose(1, 2).reshape(B, -1, heads * dh)
        lat = lat + o @ L("attn.to_out.weight").t()
        h = layer_norm(lat, L("ff.norm.weight"), L("ff.norm.bias"))
        h = F.gelu(h @ L("ff.fc1.weight").t()) @ L("ff.fc2.weight").t()
        lat = lat + h
    return layer_norm(lat, p["norm.weight"], p["norm.bias"])


def params(cfg, seed):
    D, M, inner, Fh = cfg["dim"], cfg["media_dim"], cfg["heads"] * cfg["dim_head"], cfg["ff_mult"] * cfg["dim"]
    shapes = {"latents": (cfg["num_latents"], D)}
    if M != D:
        shapes["in_proj.weight"] = (D, M)
        shapes["in_proj.bias"] = (D,)
    for i in range(cfg["depth"]):
        for n in ("attn.norm_media", "attn.norm_latents", "ff.norm"):
            shapes[f"layers.{i}.{n}.weight"] = (D,)
            shapes[f"layers.{i}.{n}.bias"] = (D,)
        shapes[f"layers.{i}.attn.to_q.weight"] = (inner, D)
        shapes[f"layers.{i}.attn.to_k.weight"] = (inner, D)
        shapes[f"layers.{i}.attn.to_v.weight"] = (inner, D)
        shapes[f"layers.{i}.attn.to_out.weight"] = (D, inner)
        shapes[f"layers.{i}.ff.fc1.weight"] = (Fh, D)
        shapes[f"layers.{i}.ff.fc2.weight"] = (D, Fh)
    shapes["norm.weight"] = (D,)
    shapes["norm.bias"] = (D,)
    p = {}
    for k, (name, shape) in enumerate(shapes.items()):
        if name.endswith("norm.weight") or name.endswith("norm_media.weight") or name.endswith("norm_latents.weight"):
            t = 1 + det_tensor(seed + k, *shape, scale=0.1)
        elif name.endswith("bias"):
            t = det_tensor(seed + k, *shape, scale=0.05)
        elif name == "latents":
            t = det_tensor(seed + k, *shape)
        else:
            t = det_tensor(seed + k, *shape, scale=shape[1] ** -0.5)
        p[name] = t.requires_grad_()
    return p


cases = {
    # Flamingo keys/values over [media ; latents], media width 24 projected to 16
    "flamingo": dict(dim=16, media_dim=24, num_latents=5, depth=2, heads=2, dim_head=8, ff_mult=2, kv_latents=1,
                     B=2, Tv=7),
    # keys/values over the visual tokens only, no input projection
    "media_only": dict(dim=12, media_dim=12, num_latents=3, depth=1, heads=4, dim_head=4, ff_mult=4, kv_latents=0,
                       B=3, Tv=6),
}
out = {}
for ci, (key, cfg) in enumerate(cases.items()):
    p = params(cfg, 1000 * (ci + 1))
    x = det_tensor(10 + ci, cfg["B"], cfg["Tv"], cfg["media_dim"]).requires_grad_()
    y = resampler(x, p, cfg)
    gy = det_tensor(20 + ci, *y.shape)
    y.backward(gy)
    out[f"{key}.x"] = x
    out[f"{key}.y"] = y
    out[f"{key}.gy"] = gy
    out[f"{key}.gx"] = x.grad
    for name, t in p.items():
        out[f"{key}.p.{name}"] = t
        out[f"{key}.g.{name}"] = t.grad
save("resampler", out, {"cases": ",".join(cases)})
