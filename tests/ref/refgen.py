"""Shared helper for the reference generators tests/ref/gen_*.py.

Each generator computes outputs (and input gradients) with PyTorch and writes them with
save() to tests/ref/<family>.safetensors, which the C tests read with mvla's own reader.
Run with Debian's python3 (python3-torch): /usr/bin/python3 tests/ref/gen_<family>.py
"""
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def det_tensor(seed, *shape, scale=1.0):
    """A deterministic float32 tensor from numpy's generator (independent of torch's RNG)."""
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.standard_normal(shape).astype(np.float32) * scale)


def save(family, tensors, metadata=None):
    """Writes {name: tensor or array} as float32 safetensors to tests/ref/<family>.safetensors."""
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(value, dtype=np.float32)).reshape(np.shape(value))
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = os.path.join(HERE, family + ".safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}: {len(tensors)} tensors, {offset} bytes")
