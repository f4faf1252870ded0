"""Reference outputs for the "area" filter of src/data/preprocess.c (tests/test_cache.c): exact area
averaging of 8-bit BGR frames into RGB, with the crop policies, on odd sizes, integer and non-integer
ratios, 1-pixel outputs and enlarging.

The reference is computed differently from the C code (which uses separable per-axis weight tables):
here through the integral image of the piecewise-constant source, in exact integers. With lengths in
units of 1/out_w (x) and 1/out_h (y) of a source pixel every footprint corner is an integer, the
integral of the source up to a corner is an integer, and an output pixel is round-half-up(N / D),
N the integral over its footprint and D = sw * sh its area in those units.

Inputs are not stored: both sides generate them from the same integer hash (image() below and
area_image() in test_cache.c); a few probe pixels are stored so that a drift shows as such.

It also checks the claim that Pillow's Image.BOX is exact area averaging: it is not. Pillow's box
weighs every source pixel whose centre lies in the footprint by 1 (no fractional coverage) and rounds
to 8 bits between its horizontal and vertical pass, so it differs by up to 1 even at integer ratios
and by more with non-integer ones (up to 38 grey levels on 37x23 -> 16x9 here); when enlarging it is
close to nearest-neighbour. The differences are printed and stored in the metadata; the C code is
compared with the exact reference only.

Stored as F32 (exact for uint8 values). Run with Debian's python3 (numpy, Pillow):
    /usr/bin/python3 tests/ref/gen_area_resize.py"""
import numpy as np
import PIL
from PIL import Image
from refgen import save

STRETCH, CENTER, PAD = 0, 1, 2

# name: (source width, height, output width, height, crop, seed); mirrored by AREA_CASES in test_cache.c
CASES = {
    "vga_64": (640, 480, 64, 64, STRETCH, 1),          # the default student: x / 10, y / 7.5
    "hd_128x72": (1280, 720, 128, 72, STRETCH, 2),     # integer ratio 10
    "hd_64": (1280, 720, 64, 64, STRETCH, 3),          # x / 20, y / 11.25
    "odd_16x9": (37, 23, 16, 9, STRETCH, 4),           # non-integer both ways
    "one_pixel": (37, 23, 1, 1, STRETCH, 5),           # the mean of the whole frame
    "one_row": (50, 31, 7, 1, STRETCH, 6),
    "one_column": (3, 40, 1, 6, STRETCH, 7),
    "enlarge": (23, 17, 40, 30, STRETCH, 8),           # pixel mixing
    "mixed": (30, 40, 12, 50, STRETCH, 9),             # x down, y up
    "vga_center": (640, 480, 64, 36, CENTER, 10),      # cuts rows
    "wide_center": (100, 37, 30, 30, CENTER, 11),      # cuts columns
    "vga_pad": (640, 480, 64, 36, PAD, 12),            # black columns left and right
    "tall_pad": (33, 64, 16, 16, PAD, 13),
    "wide_pad": (90, 20, 17, 13, PAD, 14),             # black rows above and below
}
PROBES = 16


def image(w, h, seed):
    """h x w x 3 uint8 (channels as given to preprocess: B, G, R): hashed noise in a checkerboard of
    5 x 3 cells, a wrapping gradient elsewhere. Mirrors area_image() in tests/test_cache.c."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint32), np.arange(w, dtype=np.uint32), np.arange(3, dtype=np.uint32),
                          indexing="ij")
    v = x * np.uint32(0x9E3779B1) + y * np.uint32(0x85EBCA77) + c * np.uint32(0xC2B2AE3D) + np.uint32((seed * 0x27D4EB2F) & 0xFFFFFFFF)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x2C1B3C6D)
    v ^= v >> np.uint32(12)
    noise = v & np.uint32(255)
    smooth = (x * np.uint32(7) + y * np.uint32(3) + c * np.uint32(50)) & np.uint32(255)
    return np.where((x // 5 + y // 3) % 3 == 0, noise, smooth).astype(np.uint8)


def scaled(a, b, c):
    """Rounded a * b / c, at least 1 (preprocess.c)."""
    return max(1, (2 * a * b + c) // (2 * c))


def geometry(sw, sh, W, H, crop):
    """Source rectangle (x0, y0, w, h) and destination rectangle (dx, dy, dw, dh): the spec of
    preprocess.h (center_crop cuts the centre, pad centres the whole frame)."""
    x0, y0, w, h, dx, dy, dw, dh = 0, 0, sw, sh, 0, 0, W, H
    wider, taller = sw * H > sh * W, sw * H < sh * W
    if crop == CENTER:
        if wider:
            w = scaled(sh, W, H)
            x0 = (sw - w) // 2
        elif taller:
            h = scaled(sw, H, W)
            y0 = (sh - h) // 2
    elif crop == PAD:
        if wider:
            dh = min(scaled(W, sh, sw), H)
            dy = (H - dh) // 2
        elif taller:
            dw = min(scaled(H, sw, sh), W)
            dx = (W - dw) // 2
    return x0, y0, w, h, dx, dy, dw, dh


def area_exact(img, ow, oh):
    """Exact area average of img (h x w x 3 uint8) to oh x ow, round half up, via the integral image."""
    h, w, _ = img.shape
    P = np.zeros((h + 2, w + 2, 3), dtype=np.int64)
    P[1:h + 1, 1:w + 1] = img.astype(np.int64).cumsum(0).cumsum(1)

    def integral(X, Y):  # X: (ow+1,) in units of 1/ow, Y: (oh+1,) in units of 1/oh -> (oh+1, ow+1, 3)
        a, r = (X // ow)[None, :], (X % ow)[None, :, None]
        b, s = (Y // oh)[:, None], (Y % oh)[:, None, None]
        p00, p01, p10, p11 = P[b, a], P[b, a + 1], P[b + 1, a], P[b + 1, a + 1]
        return ow * oh * p00 + r * oh * (p01 - p00) + s * ow * (p10 - p00) + r * s * (p11 - p10 - p01 + p00)

    X = np.arange(ow + 1, dtype=np.int64) * w
    Y = np.arange(oh + 1, dtype=np.int64) * h
    I = integral(X, Y)
    N = I[1:, 1:] - I[:-1, 1:] - I[1:, :-1] + I[:-1, :-1]
    D = w * h
    return ((2 * N + D) // (2 * D)).astype(np.uint8)


def area_direct(img, ow, oh):
    """The definition itself, in float64 (slow: small images only): the coverage-weighted mean."""
    h, w, _ = img.shape

    def weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for o in range(n_out):
            lo, hi = o * n_in / n_out, (o + 1) * n_in / n_out
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[o, j] = max(0.0, min(hi, j + 1) - max(lo, j))
        return m / m.sum(1, keepdims=True)

    return np.einsum("oy,yxc,px->opc", weights(h, oh), img.astype(np.float64), weights(w, ow))


out, notes = {}, []
for name, (sw, sh, W, H, crop, seed) in CASES.items():
    img = image(sw, sh, seed)
    x0, y0, w, h, dx, dy, dw, dh = geometry(sw, sh, W, H, crop)
    part = img[y0:y0 + h, x0:x0 + w]
    res = np.zeros((H, W, 3), dtype=np.uint8)
    res[dy:dy + dh, dx:dx + dw] = area_exact(part, dw, dh)
    if w * h <= 50000:  # the integral-image result against the definition
        direct = area_direct(part, dw, dh)
        assert np.abs(res[dy:dy + dh, dx:dx + dw] - direct).max() <= 0.5 + 1e-9, name
    if crop == STRETCH:  # Pillow's BOX against exact area averaging
        box = np.asarray(Image.fromarray(img[..., ::-1].copy(), "RGB").resize((W, H), Image.BOX))[..., ::-1]
        d = np.abs(box.astype(int) - res.astype(int))
        integer = sw % W == 0 and sh % H == 0
        notes.append(f"{name}:{'integer' if integer else 'non-integer'}:max{d.max()}:{(d > 0).mean():.3f}")
        print(f"{name:12s} {sw}x{sh}->{W}x{H} Pillow BOX vs exact area: max |diff| {d.max():3d}, "
              f"{100 * (d > 0).mean():5.1f}% of values differ ({'integer' if integer else 'non-integer'} ratio)")
    rng = np.random.default_rng(seed)
    probes = np.stack([rng.integers(0, sw, PROBES), rng.integers(0, sh, PROBES), rng.integers(0, 3, PROBES)], 1)
    out[name + ".params"] = np.array([sw, sh, W, H, crop, seed])
    out[name + ".probes"] = np.concatenate([probes, img[probes[:, 1], probes[:, 0], probes[:, 2]][:, None]], 1)
    out[name + ".output"] = res[..., ::-1]  # preprocess writes RGB from the BGR source
save("area_resize", out, {"pillow": PIL.__version__, "numpy": np.__version__, "pillow_box_vs_exact": " ".join(notes)})
