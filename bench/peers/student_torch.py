"""PyTorch peer of `mvla bench`: the student policy (src/models/policy.h) re-implemented in eager PyTorch
from a model file's own metadata (the "mvla.model" architecture, preprocessing and action spec) and
loaded with the same weights, run in step mode exactly like mvla's StudentRunner: each new frame is
encoded once, its feature goes into a ring of the last W features, and the temporal head runs over
that window (frames before the episode start: the learned head.pad), with the same temporal
ensembling. Eval mode, torch.inference_mode, torch.set_num_threads(threads).

  /usr/bin/python3 bench/peers/student_torch.py MODEL.safetensors [--check DUMP.safetensors]
      [--threads 1,2] [--steps N] [--warmup N] [--size WxH] [--variants eager,fused] [--json]

--check DUMP (written by `mvla bench MODEL --dump DUMP`): steps the dump's model inputs through the
  PyTorch model and compares instruction tokens, head outputs, chunks and actions with mvla's
  (tolerance --atol, default 2e-4 on the normalised outputs); exits 1 when they differ. Its own
  preprocessing of the dump's camera frames is compared too (reported, not asserted: PyTorch's area
  resize is adaptive average pooling, stb's a box filter with fractional coverage, so at non-integer
  ratios such as 640 -> 96 they differ by a few grey levels).
Timing: synthetic camera-sized BGR uint8 frames (default 640x480) through the whole step, per stage:
  preprocess (uint8 HWC -> tensor, area/bicubic resize, BGR -> RGB, normalisation), encoder, head;
  latency p50/p90/p99 (numpy's linear percentiles, as mvla bench), steps/s, peak RSS (VmHWM, reset
  per row through /proc/self/clear_refs). Variants: "eager" (the modules as loaded: batch norm as
  its own op, the way the model trains) and "fused" (conv + batch norm fused with
  torch.nn.utils.fusion.fuse_conv_bn_eval, what mvla does when it opens a model file).
Output: a Markdown table, or with --json one JSON object {"check": {...}, "results": [...]}.

The model itself is in student_torch_model.py (shared with tests/ref/gen_student_policy.py)."""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from student_torch_model import StepRunner, fuse_batchnorm, load_model, read_safetensors  # noqa: E402

# ---------------------------------------------------------------- preprocessing (the peer's own)

def _scaled(a, b, c):
    return max(1, (2 * a * b + c) // (2 * c))


def preprocess(frame, pre, order_bgr=True, buf=None):
    """Camera frame (uint8 numpy [H, W, 3]) -> RGB uint8 tensor [h, w, 3] at the model's input size, with
    the model's crop policy and filter (area: adaptive average pooling; bicubic: antialiased bicubic).
    buf: None or a float32 [1, 3, H, W] tensor reused for the converted frame (no 4 bytes per camera
    sample allocated per step: with glibc trimming the heap, every such step page-faults it back)."""
    H, W = frame.shape[:2]
    tw, th = pre["width"], pre["height"]
    chw = torch.from_numpy(frame).permute(2, 0, 1)[None]
    x = buf.copy_(chw) if buf is not None and buf.shape == chw.shape else chw.float()
    crop, dst = pre.get("crop", "stretch"), (0, 0, tw, th)
    wider, taller = W * th > H * tw, W * th < H * tw
    if crop == "center_crop" and wider:
        sw = _scaled(H, tw, th)
        x = x[..., (W - sw) // 2:(W - sw) // 2 + sw]
    elif crop == "center_crop" and taller:
        sh = _scaled(W, th, tw)
        x = x[..., (H - sh) // 2:(H - sh) // 2 + sh, :]
    elif crop == "pad" and wider:
        dh = min(th, _scaled(tw, H, W))
        dst = (0, (th - dh) // 2, tw, dh)
    elif crop == "pad" and taller:
        dw = min(tw, _scaled(th, W, H))
        dst = ((tw - dw) // 2, 0, dw, th)
    size = (dst[3], dst[2])
    if pre.get("filter", "area") == "area":
        y = F.interpolate(x, size=size, mode="area")
    else:
        y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    y = y.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0)
    if dst != (0, 0, tw, th):
        out = torch.zeros(th, tw, 3, dtype=torch.uint8)
        out[dst[1]:dst[1] + dst[3], dst[0]:dst[0] + dst[2]] = y
        y = out
    return y.flip(-1) if order_bgr else y


# ---------------------------------------------------------------- check and bench

def check(policy, meta, dump_path, atol):
    """Compares the PyTorch step outputs with mvla's dump; returns a dict with the worst differences."""
    d, dmeta = read_safetensors(dump_path)
    info = json.loads(dmeta.get("mvla.bench_dump", "{}"))
    runner = StepRunner(policy)
    runner.set_instruction(info.get("instruction", ""))
    res = {"dump": dump_path, "steps": int(d["inputs"].shape[0]),
           "tokens_equal": runner.tokens == [int(t) for t in d["tokens"]]}
    worst = {"outputs": 0.0, "chunks": 0.0, "actions": 0.0}
    with torch.inference_mode():
        for i in range(d["inputs"].shape[0]):
            a, c, o = runner.step_rgb(torch.from_numpy(d["inputs"][i]))
            worst["outputs"] = max(worst["outputs"], float(np.abs(o.numpy() - d["outputs"][i]).max()))
            worst["chunks"] = max(worst["chunks"], float(np.abs(c.numpy() - d["chunks"][i]).max()))
            worst["actions"] = max(worst["actions"], float(np.abs(a.numpy() - d["actions"][i]).max()))
        pre_diff = 0
        for i in range(d["frames"].shape[0]):
            mine = preprocess(d["frames"][i], meta["preprocessing"]).numpy().astype(int)
            pre_diff = max(pre_diff, int(np.abs(mine - d["inputs"][i].astype(int)).max()))
    scale = float(np.max(np.asarray(meta["action"]["scale"]))) if not policy.discrete else 0.0
    res.update({f"max_abs_{k}": v for k, v in worst.items()})
    res["preprocess_max_grey_levels"] = pre_diff
    res["ok"] = bool(res["tokens_equal"] and worst["outputs"] <= atol and
                     (policy.discrete or worst["chunks"] <= atol * (1 + scale)))
    return res


def rss_reset():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_frames(w, h, n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


def bench(policy, meta, threads, steps, warmup, frames, instruction, variant):
    torch.set_num_threads(threads)
    reset_ok = rss_reset()
    runner = StepRunner(policy)
    lat, stage = [], np.zeros(3)
    H, W = frames[0].shape[:2]
    buf = torch.empty(1, 3, H, W)
    with torch.inference_mode():
        runner.set_instruction(instruction)
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            x = policy.normalise(preprocess(frames[i % len(frames)], meta["preprocessing"], buf=buf)[None])
            t1 = time.perf_counter()
            runner.encode(x)
            t2 = time.perf_counter()
            runner.head()
            t3 = time.perf_counter()
            if i >= warmup:
                lat.append(t3 - t0)
                stage += (t1 - t0, t2 - t1, t3 - t2)
    lat = np.asarray(lat)
    return {"impl": "torch", "variant": variant, "threads": threads, "steps": steps,
            "p50_ms": 1e3 * float(np.percentile(lat, 50)), "p90_ms": 1e3 * float(np.percentile(lat, 90)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99)), "mean_ms": 1e3 * float(lat.mean()),
            "steps_per_s": float(steps / lat.sum()), "preprocess_ms": 1e3 * stage[0] / steps,
            "encoder_ms": 1e3 * stage[1] / steps, "head_ms": 1e3 * stage[2] / steps,
            "peak_rss_mb": rss_peak_mb(), "rss_lifetime": not reset_ok, "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--check", metavar="DUMP")
    ap.add_argument("--atol", type=float, default=2e-4)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=None, help="default: 20, or the head's window if longer")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--variants", default="eager,fused")
    ap.add_argument("--instruction", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_interop_threads(1)
    policy, meta = load_model(a.model)
    out = {"model": a.model, "torch": torch.__version__}
    if a.check:
        torch.set_num_threads(1)
        out["check"] = check(policy, meta, a.check, a.atol)
    w, h = (int(v) for v in a.size.lower().split("x"))
    frames = synthetic_frames(w, h, 16)
    instruction = a.instruction if a.instruction is not None else meta["instruction"]["default"]
    warmup = a.warmup if a.warmup is not None else max(20, policy.cfg["head"]["window"])
    results = []
    for variant in [v for v in a.variants.split(",") if v]:
        if variant not in ("eager", "fused"):
            sys.exit(f"student_torch.py: --variants: unknown {variant!r} (eager, fused)")
        p = fuse_batchnorm(load_model(a.model)[0]) if variant == "fused" else policy
        for t in (int(v) for v in a.threads.split(",")):
            print(f"torch {variant} t{t}: {warmup + a.steps} steps ...", file=sys.stderr, flush=True)
            results.append(bench(p, meta, t, a.steps, warmup, frames, instruction, variant))
    out["results"] = results
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        if "check" in out:
            c = out["check"]
            print(f"check against {c['dump']}: {'OK' if c['ok'] else 'MISMATCH'} over {c['steps']} steps: "
                  f"tokens {'equal' if c['tokens_equal'] else 'DIFFER'}, max |output diff| {c['max_abs_outputs']:.2e}, "
                  f"chunks {c['max_abs_chunks']:.2e}, actions {c['max_abs_actions']:.2e}; own preprocessing "
                  f"differs from mvla's by up to {c['preprocess_max_grey_levels']} grey levels\n")
        print("| impl | variant | threads | steps | p50 ms | p90 ms | p99 ms | steps/s | preprocess ms | encoder ms "
              "| head ms | peak RSS MB |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| torch {r['torch']} | {r['variant']} | {r['threads']} | {r['steps']} | {r['p50_ms']:.3f} | "
                  f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['steps_per_s']:.0f} | {r['preprocess_ms']:.3f} | "
                  f"{r['encoder_ms']:.3f} | {r['head_ms']:.3f} | {r['peak_rss_mb']:.1f} |")
    if "check" in out and not out["check"]["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
