"""PyTorch peer for bench/bench_clip.c: the CLIP vision tower (Hugging Face CLIPVisionModelWithProjection's
computation: conv patch embedding, class token, positions, pre_layrnorm, pre-LN blocks, post_layernorm on the
class token, visual_projection) in eager PyTorch under torch.inference_mode, on the same weights file.

  /usr/bin/python3 bench/peers/clip_torch.py MODEL_DIR INPUTS.safetensors OUT.safetensors THREADS ITERS

Reads MODEL_DIR/config.json and MODEL_DIR/model.safetensors (HF layout) and INPUTS' pixel_values [B, 3, R, R];
times ITERS forward passes after two warm-ups with THREADS intra-op threads; writes image_embeds to OUT and
prints one JSON line {"median_ms", "best_ms", "median_cpu_ms" (process CPU time), "threads", "batch", "torch"}."""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def act_fn(name):
    return {"quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "gelu": F.gelu,
            "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu}[name]


class VisionTower:
    def __init__(self, cfg, w):
        v = cfg.get("vision_config", cfg)
        self.D, self.H = v["hidden_size"], v["num_attention_heads"]
        self.P, self.L, self.eps = v["patch_size"], v["num_hidden_layers"], v.get("layer_norm_eps", 1e-5)
        self.act = act_fn(v.get("hidden_act", "quick_gelu"))
        self.w = w

    def ln(self, x, name):
        return F.layer_norm(x, (self.D,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def lin(self, x, name, bias=True):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"] if bias else None)

    def __call__(self, px):
        w, D, H, hd = self.w, self.D, self.H, self.D // self.H
        pre = "vision_model."
        x = F.conv2d(px, w[pre + "embeddings.patch_embedding.weight"], stride=self.P)  # [B, D, G, G]
        B = x.shape[0]
        x = x.flatten(2).transpose(1, 2)
        cls = w[pre + "embeddings.class_embedding"].expand(B, 1, D)
        x = torch.cat([cls, x], dim=1) + w[pre + "embeddings.position_embedding.weight"]
        x = self.ln(x, pre + "pre_layrnorm")
        T = x.shape[1]
        for i in range(self.L):
            p = f"{pre}encoder.layers.{i}."
            h = self.ln(x, p + "layer_norm1")
            q = self.lin(h, p + "self_attn.q_proj") * hd ** -0.5
            k = self.lin(h, p + "self_attn.k_proj")
            v = self.lin(h, p + "self_attn.v_proj")
            split = lambda t: t.view(B, T, H, hd).transpose(1, 2)
            a = torch.softmax(split(q) @ split(k).transpose(-1, -2), dim=-1) @ split(v)
            x = x + self.lin(a.transpose(1, 2).reshape(B, T, D), p + "self_attn.out_proj")
            h = self.ln(x, p + "layer_norm2")
            x = x + self.lin(self.act(self.lin(h, p + "mlp.fc1")), p + "mlp.fc2")
        pooled = self.ln(x[:, 0], pre + "post_layernorm")
        return F.linear(pooled, w["visual_projection.weight"])


def main():
    model_dir, inputs, out_path, threads, iters = sys.argv[1:6]
    threads, iters = int(threads), int(iters)
    torch.set_num_threads(threads)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    tower = VisionTower(cfg, read_safetensors(os.path.join(model_dir, "model.safetensors")))
    px = read_safetensors(inputs)["pixel_values"]
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(2):  # warm-up, as bench_clip does for mvla
            emb = tower(px)
        for _ in range(iters):
            t0, c0 = time.perf_counter(), time.process_time()
            emb = tower(px)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    write_safetensors(out_path, {"image_embeds": emb})
    times.sort()
    cpu.sort()
    print(json.dumps({"median_ms": 1e3 * times[len(times) // 2], "best_ms": 1e3 * times[0],
                      "median_cpu_ms": 1e3 * cpu[len(cpu) // 2], "threads": threads,
                      "batch": px.shape[0], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
