#!/usr/bin/env bash
# make demo: mvla's main job on built-in data, on a fresh machine with nothing but the project.
#   simulate 72 episodes like the original dataset -> check -> split 70/20/10 -> cache
#   -> train the default student -> offline eval on the test split -> closed-loop eval in the
#   simulator -> policy step benchmark -> leaderboard.
# Environment: MVLA_DEMO_OUT (default demo-out), MVLA_DEMO_EPOCHS (default 15),
#              MVLA_DEMO_EPISODES (default 72), MVLA_DEMO_ROLLOUTS (default 2 per cell).
set -euo pipefail
mvla=${1:-build/mvla}
build=$(dirname "$mvla")
out=${MVLA_DEMO_OUT:-demo-out}
epochs=${MVLA_DEMO_EPOCHS:-15}
episodes=${MVLA_DEMO_EPISODES:-72}
rollouts=${MVLA_DEMO_ROLLOUTS:-2}
run=$out/runs/student
mkdir -p "$out/runs"
step() { printf '\n== %s\n' "$*"; }

step "1/8 simulate $episodes expert episodes (mvla sim generate)"
"$mvla" sim generate -o "$out/episodes" -n "$episodes" --seed 1

step "2/8 check the dataset (mvla data check)"
"$mvla" data check "$out/episodes"
"$mvla" data info "$out/episodes" | head -12

step "3/8 split 70/20/10 by episode, stratified by scenario and side (mvla data split)"
"$mvla" data split "$out/episodes" -o "$out/split.json" --seed 1

step "4/8 train the default student, $epochs epochs (mvla train; builds the frame cache first)"
rm -rf "$run"
"$mvla" train --data "$out/episodes" --manifest "$out/split.json" --out "$run" --preset student \
  --epochs "$epochs" --seed 1

step "5/8 offline evaluation on the test split (mvla eval)"
"$mvla" eval "$run/checkpoints/best.safetensors" --data "$out/episodes" --manifest "$out/split.json"

step "6/8 closed-loop evaluation in the simulator, $rollouts rollouts per cell (mvla sim eval)"
"$mvla" sim eval --model "$run/checkpoints/best.safetensors" --rollouts "$rollouts" --seed 7 \
  --json "$run/sim_eval.json" --svg "$run/sim_eval.svg"

step "7/8 policy step benchmark (bench_policy)"
make -s "$build/bench/bench_policy" >/dev/null
"$build/bench/bench_policy" --quick

step "8/8 leaderboard (mvla leaderboard)"
"$mvla" leaderboard "$out/runs"
echo
echo "run folder: $run (curves.svg, metrics.jsonl, checkpoints/); leaderboard: $out/runs/leaderboard.html"
