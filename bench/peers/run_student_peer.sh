#!/usr/bin/env bash
# mvla vs PyTorch on the default student policy, in one run: builds mvla, makes a model file (a few
# training steps of the default preset on a small simulated dataset, then `mvla export`), times it with
# `mvla bench` at 1 and 2 threads, checks the PyTorch peer (bench/peers/student_torch.py) against mvla's
# outputs on the same frames, times the peer, and prints the ratios. With `mvla quantize` available,
# the INT8 model file is timed too (int8 vs fp32). mvla and PyTorch take turns for ROUNDS rounds and
# each row keeps its best round (steps/s): on a shared machine that is the speed when nothing else
# competed; the load average is printed beside.
#   bench/peers/run_student_peer.sh [MODEL.safetensors]      (or: make bench-peers)
# Environment: BUILD (default build), STEPS (timed steps per row and round, default 500), ROUNDS
# (default 3), THREADS (default 1,2), SIZE (camera frame, default 640x480; the model's input size,
# e.g. 64x64, leaves the resize out), OUT (work folder, default a new temporary one).
# Needs python3-torch and python3-numpy (scripts/install-deps.sh dev); Debian's /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
STEPS=${STEPS:-500}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1,2}
SIZE=${SIZE:-640x480}
OUT=${OUT:-$(mktemp -d /tmp/mvla-bench-peers.XXXXXX)}
PY=/usr/bin/python3
mvla=$BUILD/mvla
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
make -s -j2 BUILD="$BUILD" "$mvla" >/dev/null

model=${1:-}
if [ -z "$model" ]; then
  echo "== making a model file in $OUT (default student preset, a few training steps)" >&2
  "$mvla" sim generate -o "$OUT/episodes" -n 12 --seed 1 >/dev/null
  "$mvla" data split "$OUT/episodes" -o "$OUT/split.json" --seed 1 >/dev/null
  mkdir -p "$OUT/runs"
  "$mvla" train --data "$OUT/episodes" --manifest "$OUT/split.json" --out "$OUT/runs/student" --preset student \
    --max-steps 4 --quiet >/dev/null 2>&1 || true
  ckpt=$(ls "$OUT"/runs/student/checkpoints/*.safetensors | head -n 1)
  model=$OUT/student.model.safetensors
  "$mvla" export "$ckpt" -o "$model" 2>/dev/null
fi
models=("$model")
if "$mvla" quantize --help >/dev/null 2>&1 && [ -f "$OUT/runs/student/frames.cache" ]; then
  echo "== mvla quantize (calibration on the run's frame cache)" >&2
  if "$mvla" quantize "$model" --cache "$OUT/runs/student/frames.cache" -o "$OUT/student.int8.safetensors" >&2; then
    models+=("$OUT/student.int8.safetensors")
  else
    echo "(mvla quantize failed: INT8 left out)" >&2
  fi
fi

"$mvla" bench "$model" --dump "$OUT/dump.safetensors" --size "$SIZE" --quiet
echo "== PyTorch peer: check against mvla's outputs" >&2
$PY bench/peers/student_torch.py "$model" --check "$OUT/dump.safetensors" --variants "" --json > "$OUT/check.json"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r/$ROUNDS: mvla bench, then the PyTorch peer (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$mvla" bench "${models[@]}" --threads "$THREADS" --steps "$STEPS" --size "$SIZE" --json-file "$OUT/mvla.$r.json" \
    --quiet >/dev/null
  $PY bench/peers/student_torch.py "$model" --threads "$THREADS" --steps "$STEPS" --size "$SIZE" --json \
    > "$OUT/torch.$r.json"
done

$PY - "$OUT" "$ROUNDS" "$SIZE" <<'PY'
import json, sys
out, rounds, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = json.load(open(f"{out}/check.json"))["check"]
tj = json.load(open(f"{out}/torch.1.json"))
def best(rows, key):  # the best round of each row
    b = {}
    for r in rows:
        k = key(r)
        if k not in b or r["steps_per_s"] > b[k]["steps_per_s"]:
            b[k] = r
    return list(b.values())
mv = best([r for i in range(1, rounds + 1) for r in json.load(open(f"{out}/mvla.{i}.json"))],
          lambda r: (r["model"], r["threads"]))
tj["results"] = best([r for i in range(1, rounds + 1) for r in json.load(open(f"{out}/torch.{i}.json"))["results"]],
                     lambda r: (r["variant"], r["threads"]))
print(f"Frames {size}; best of {rounds} rounds of {mv[0]['steps']} steps per row.\n")
print(f"PyTorch {tj['torch']} vs mvla outputs on {c['steps']} steps: {'OK' if c['ok'] else 'MISMATCH'} "
      f"(max |head output diff| {c['max_abs_outputs']:.1e}, |action diff| {c['max_abs_actions']:.1e}, "
      f"tokens {'equal' if c['tokens_equal'] else 'DIFFER'}; the peer's own resize differs from mvla's by up to "
      f"{c['preprocess_max_grey_levels']} grey levels)\n")
print("| impl | threads | p50 ms | p99 ms | steps/s | preprocess ms | encoder ms | head ms | peak RSS MB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in sorted(mv, key=lambda r: (r["quantization"], r["threads"])):
    print(f"| mvla {r['quantization']} ({r['file_mb']:.2f} MB) | {r['threads']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['steps_per_s']:.0f} | "
          f"{r['preprocess_ms']:.3f} | {r['encoder_ms']:.3f} | {r['head_ms']:.3f} | {r['peak_rss_mb']:.1f} |")
for r in sorted(tj["results"], key=lambda r: (r["variant"], r["threads"])):
    print(f"| torch {r['variant']} | {r['threads']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['steps_per_s']:.0f} | "
          f"{r['preprocess_ms']:.3f} | {r['encoder_ms']:.3f} | {r['head_ms']:.3f} | {r['peak_rss_mb']:.1f} |")
print("\n| threads | mvla fp32 / torch eager (steps/s) | same, by p50 latency | mvla fp32 / torch fused-BN "
      "| network only (encoder+head) vs eager | mvla int8 / mvla fp32 (steps/s) | same, by p50 |")
print("|---:|---:|---:|---:|---:|---:|---:|")
fp = {r["threads"]: r for r in mv if r["quantization"] == "none"}
q8 = {r["threads"]: r for r in mv if r["quantization"] != "none"}
for t, r in sorted(fp.items()):
    tv = {x["variant"]: x for x in tj["results"] if x["threads"] == t}
    e, f = tv.get("eager"), tv.get("fused")
    net = lambda x: x["encoder_ms"] + x["head_ms"]
    cells = [f"{r['steps_per_s'] / e['steps_per_s']:.2f}x" if e else "-",
             f"{e['p50_ms'] / r['p50_ms']:.2f}x" if e else "-",
             f"{r['steps_per_s'] / f['steps_per_s']:.2f}x" if f else "-",
             f"{net(e) / net(r):.2f}x" if e else "-",
             f"{q8[t]['steps_per_s'] / r['steps_per_s']:.2f}x" if t in q8 else "-",
             f"{r['p50_ms'] / q8[t]['p50_ms']:.2f}x" if t in q8 else "-"]
    print(f"| {t} | " + " | ".join(cells) + " |")
if not c["ok"]:
    sys.exit("the PyTorch peer's outputs differ from mvla's")
PY
echo "(results in $OUT)" >&2
