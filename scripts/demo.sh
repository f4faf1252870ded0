#!/usr/bin/env bash
# make demo: the main job on built-in data. Until the student policy exists, it trains the
# small conv + LSTM + linear network on synthetic sequences, evaluates it on held-out ones,
# saves and reloads its checkpoint, lists the checkpoint, and measures op throughput.
set -euo pipefail
mvla=${1:-build/mvla}
out=${MVLA_DEMO_OUT:-demo-out}
echo "== training the toy conv + LSTM network (mvla train-demo)"
"$mvla" train-demo --sequences 256 --steps 600 --lr 0.01 --out "$out"
echo
echo "== the checkpoint (mvla inspect)"
"$mvla" inspect "$out/toy.safetensors"
echo
echo "== op throughput at realistic shapes (build/bench/bench_ops --quick)"
make -s "$(dirname "$mvla")/bench/bench_ops" >/dev/null
"$(dirname "$mvla")/bench/bench_ops" --quick
