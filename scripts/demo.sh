#!/usr/bin/env bash
# make demo: mvla's main job on built-in data, on a fresh machine with nothing but the project.
#   simulate 72 episodes like the original dataset, and a larger set -> check -> split 70/20/10
#   -> train the default student on each (side by side, one core each; the best checkpoint by
#   closed-loop success on the simulator's selection rollouts, seed 101) -> offline eval on the test
#   splits -> closed-loop eval in the simulator -> export, int8, step benchmark -> leaderboard.
# Environment: MVLA_DEMO_OUT (default demo-out), MVLA_DEMO_STEPS (default 2400 optimiser steps per run),
#              MVLA_DEMO_EPISODES (default 72), MVLA_DEMO_LARGE (default 500; 0: skip the larger set),
#              MVLA_DEMO_ROLLOUTS (default 20 per scenario x side x distance cell: 480 rollouts).
set -euo pipefail
mvla=${1:-build/mvla}
out=${MVLA_DEMO_OUT:-demo-out}
steps=${MVLA_DEMO_STEPS:-2400}
episodes=${MVLA_DEMO_EPISODES:-72}
large=${MVLA_DEMO_LARGE:-500}
rollouts=${MVLA_DEMO_ROLLOUTS:-20}
runs=$out/runs
mkdir -p "$runs"
step() { printf '\n== %s\n' "$*"; }

# Datasets: name, folder, episode count. The large set's first episodes are the small set's.
sets=("student-${episodes}ep")
dirs=("$out/episodes")
counts=("$episodes")
if [ "$large" -gt 0 ]; then
  sets+=("student-${large}ep"); dirs+=("$out/episodes-$large"); counts+=("$large")
fi

step "1/8 simulate ${counts[*]} expert episodes (mvla sim generate)"
for i in "${!sets[@]}"; do
  "$mvla" sim generate -o "${dirs[$i]}" -n "${counts[$i]}" --seed 1
done

step "2/8 check the datasets (mvla data check)"
for d in "${dirs[@]}"; do "$mvla" data check "$d"; done
"$mvla" data info "${dirs[0]}" | head -12

step "3/8 split 70/20/10 by episode, stratified by scenario and side (mvla data split)"
for d in "${dirs[@]}"; do "$mvla" data split "$d" -o "$d.split.json" --seed 1 | tail -1; done

step "4/8 train the default student on each set, $steps steps, one core each, best checkpoint by closed-loop success (mvla train --select sim; builds the frame cache first)"
pids=()
for i in "${!sets[@]}"; do
  run=$runs/${sets[$i]}
  rm -rf "$run"
  train=("$mvla" --threads 1 train --data "${dirs[$i]}" --manifest "${dirs[$i]}.split.json" --out "$run"
         --preset student --steps "$steps" --seed 1 --select sim)
  # The first run shows its progress; the others write theirs to OUT/<run>.log.
  if [ "$i" -eq 0 ]; then "${train[@]}" & else "${train[@]}" > "$out/${sets[$i]}.log" 2>&1 & fi
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in "${!sets[@]}"; do if [ "$i" -gt 0 ]; then echo "-- ${sets[$i]}"; tail -3 "$out/${sets[$i]}.log"; fi; done

step "5/8 offline evaluation on the test splits (mvla eval)"
for i in "${!sets[@]}"; do
  echo "-- ${sets[$i]}"
  "$mvla" eval "$runs/${sets[$i]}/checkpoints/best.safetensors" --data "${dirs[$i]}" --manifest "${dirs[$i]}.split.json"
done

step "6/8 closed-loop evaluation in the simulator, $rollouts rollouts per cell, other rollouts than the selection's (mvla sim eval)"
for s in "${sets[@]}"; do
  echo "-- $s"
  "$mvla" sim eval --model "$runs/$s/checkpoints/best.safetensors" --rollouts "$rollouts" --seed 7 --target cup \
    --json "$runs/$s/sim_eval.json" --svg "$runs/$s/sim_eval.svg"
done

step "7/8 one model file, int8, and the policy step on 640x480 camera frames (mvla export, quantize, bench)"
first=$runs/${sets[0]}
"$mvla" export "$first/checkpoints/best.safetensors" -o "$out/student.safetensors"
"$mvla" quantize "$out/student.safetensors" --cache "$first/frames.cache" --manifest "${dirs[0]}.split.json" \
  --out "$out/student-int8.safetensors" | tail -4
"$mvla" bench "$out/student.safetensors" "$out/student-int8.safetensors" --threads 1,2 --steps 300 --quiet

step "8/8 leaderboard (mvla leaderboard)"
"$mvla" leaderboard "$runs"
echo
echo "run folders: $runs/* (curves.svg, metrics.jsonl, checkpoints/, sim_eval.svg); leaderboard: $runs/leaderboard.html"
