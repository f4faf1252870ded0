#!/usr/bin/python3
"""Peer for bench/bench_cache.c: the frame-cache pipeline in Python (h5py + numpy + Pillow).

For every episode file given: open it with h5py, read each frame of `images` (one gzip chunk per
frame, as the collector writes them), convert BGR -> RGB, resize to WxH with the same filter as mvla
(area = Pillow BOX, bicubic = Pillow BICUBIC), and store it in one preallocated uint8 array
(frames, H, W, 3), which is finally written to OUT as raw bytes so the caller can compare pixels.

usage: cache_h5py.py OUT WxH area|bicubic REPEATS FILE...
Prints one line: "seconds <best of REPEATS wall-clock seconds for all files> frames <N>".
"""
import sys
import time

import h5py
import numpy as np
from PIL import Image


def build(files, w, h, resample):
    counts = []
    for f in files:
        with h5py.File(f, "r") as h5:
            counts.append(h5["images"].shape[0])
    out = np.empty((sum(counts), h, w, 3), dtype=np.uint8)
    k = 0
    for f in files:
        with h5py.File(f, "r") as h5:
            images = h5["images"]
            for t in range(images.shape[0]):
                bgr = images[t]  # reads and inflates one chunk
                rgb = np.ascontiguousarray(bgr[:, :, ::-1])
                out[k] = np.asarray(Image.fromarray(rgb).resize((w, h), resample))
                k += 1
    return out


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    out_path, size, filt, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    files = sys.argv[5:]
    w, h = (int(v) for v in size.lower().split("x"))
    resample = {"area": Image.BOX, "bicubic": Image.BICUBIC}[filt]
    best, frames = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        frames = build(files, w, h, resample)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    frames.tofile(out_path)
    print(f"seconds {best:.6f} frames {frames.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
