"""Reference outputs for tests/test_clip_preprocess.c: Pillow's Image.resize with BICUBIC and BILINEAR
on small 8-bit RGB images, up- and down-scaling (the CLIP golden data only has two downscales).
Images mix random noise (hard edges: the bicubic overshoot gets clamped) with smooth gradients.
Stored as F32 (exact for uint8 values). Run with Debian's python3 (python3-pil, Pillow 9.4):
    /usr/bin/python3 tests/ref/gen_clip_resize.py"""
import numpy as np
import PIL
from PIL import Image
from refgen import save

# name: (input width, height, output width, height, filter); mirrored by CASES in test_clip_preprocess.c
CASES = {
    "up_bicubic": (37, 23, 64, 40, Image.BICUBIC),
    "down_bicubic": (37, 23, 20, 12, Image.BICUBIC),
    "mixed_bicubic": (50, 31, 80, 19, Image.BICUBIC),
    "vertical_only": (24, 48, 24, 20, Image.BICUBIC),
    "big_down_bicubic": (97, 61, 9, 7, Image.BICUBIC),
    "mixed_bilinear": (33, 29, 17, 45, Image.BILINEAR),
}

out = {}
for i, (name, (w, h, ow, oh, flt)) in enumerate(CASES.items()):
    rng = np.random.default_rng(900 + i)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 127 // (w + h)], -1)
    noise = rng.integers(0, 256, size=(h, w, 3))
    img = np.where((xx // 4 + yy // 4)[..., None] % 2 == 0, noise, smooth).astype(np.uint8)
    resized = np.asarray(Image.fromarray(img, "RGB").resize((ow, oh), flt))
    out[name + ".input"] = img
    out[name + ".output"] = resized
save("clip_resize", out, {"pillow": PIL.__version__})
