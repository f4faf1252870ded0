#!/usr/bin/env bash
# make demo: mvla's main job on built-in data, on a fresh machine with nothing but the project.
#   simulate 72 episodes like the original dataset -> check -> split 70/20/10 -> train the default
#   student on two seeds (side by side, one core each; each keeps the checkpoint with the best
#   closed-loop success on the instructed side in the selection rollouts, seed 101) -> one ensemble
#   model file of the two with mirror averaging (each member also drives the mirrored view) -> offline eval on
#   the test split (and the key-match ceiling of the data) -> closed-loop eval in the simulator ->
#   int8, step benchmark -> leaderboard.
# Environment: MVLA_DEMO_OUT (default demo-out), MVLA_DEMO_STEPS (default 2400 optimiser steps per run),
#              MVLA_DEMO_EPISODES (default 72), MVLA_DEMO_SEEDS (default "1 2": one run each, the
#              ensemble's members), MVLA_DEMO_LARGE (default 0; e.g. 500: also one run on a larger set,
#              about 9 min more), MVLA_DEMO_ROLLOUTS (default 20 per scenario x side x distance cell:
#              480 rollouts; the deployed ensemble gets MVLA_DEMO_DEPLOY_ROLLOUTS, default 50: 1200,
#              since its per-cell numbers are the ones to act on).
set -euo pipefail
mvla=${1:-build/mvla}
out=${MVLA_DEMO_OUT:-demo-out}
steps=${MVLA_DEMO_STEPS:-2400}
episodes=${MVLA_DEMO_EPISODES:-72}
seeds=${MVLA_DEMO_SEEDS:-1 2}
large=${MVLA_DEMO_LARGE:-0}
rollouts=${MVLA_DEMO_ROLLOUTS:-20}
deploy_rollouts=${MVLA_DEMO_DEPLOY_ROLLOUTS:-50}
runs=$out/runs
mkdir -p "$runs"
step() { printf '\n== %s\n' "$*"; }

# Datasets: folder and episode count. The large set's first episodes are the small set's.
dirs=("$out/episodes")
counts=("$episodes")
if [ "$large" -gt 0 ]; then dirs+=("$out/episodes-$large"); counts+=("$large"); fi
# Runs: name, dataset folder, seed.
names=() data=() run_seeds=()
for s in $seeds; do names+=("student-${episodes}ep-s$s"); data+=("${dirs[0]}"); run_seeds+=("$s"); done
if [ "$large" -gt 0 ]; then names+=("student-${large}ep-s1"); data+=("${dirs[1]}"); run_seeds+=(1); fi
members=()
for s in $seeds; do members+=("$runs/student-${episodes}ep-s$s"); done
ensemble=$runs/student-${episodes}ep-ensemble

step "1/8 simulate ${counts[*]} expert episodes (mvla sim generate)"
for i in "${!dirs[@]}"; do "$mvla" sim generate -o "${dirs[$i]}" -n "${counts[$i]}" --seed 1; done

step "2/8 check the datasets (mvla data check)"
for d in "${dirs[@]}"; do "$mvla" data check "$d"; done
"$mvla" data info "${dirs[0]}" | head -12

step "3/8 split 70/20/10 by episode, stratified by scenario and side (mvla data split)"
for d in "${dirs[@]}"; do "$mvla" data split "$d" -o "$d.split.json" --seed 1 | tail -1; done

step "4/8 train the default student: ${names[*]}; $steps steps, two at a time, one core each, best checkpoint by closed-loop success on the instructed side (mvla train --select sim; builds the frame cache first)"
pids=()
for i in "${!names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 2; done
  run=$runs/${names[$i]}
  rm -rf "$run"
  train=("$mvla" --threads 1 train --data "${data[$i]}" --manifest "${data[$i]}.split.json" --out "$run"
         --preset student --steps "$steps" --seed "${run_seeds[$i]}" --select sim)
  # The first run shows its progress; the others write theirs to OUT/<run>.log.
  if [ "$i" -eq 0 ]; then "${train[@]}" & else "${train[@]}" > "$out/${names[$i]}.log" 2>&1 & fi
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for i in "${!names[@]}"; do if [ "$i" -gt 0 ]; then echo "-- ${names[$i]}"; tail -3 "$out/${names[$i]}.log"; fi; done

step "5/8 one model file averaging the ${#members[@]} runs' actions, each also on the mirrored view (mvla ensemble --mirror)"
evals=("${names[@]}")
if [ "${#members[@]}" -ge 2 ]; then
  "$mvla" ensemble "${members[@]}" -o "$ensemble" --mirror
  evals+=("$(basename "$ensemble")")
else
  echo "one seed: no ensemble"
fi
model_of() { # run folder -> what eval and sim eval load
  if [ -f "$runs/$1/model.safetensors" ]; then echo "$runs/$1/model.safetensors"; else echo "$runs/$1/checkpoints/best.safetensors"; fi
}
data_of() { case $1 in "student-${episodes}ep"*) echo "${dirs[0]}" ;; *) echo "${dirs[1]}" ;; esac; }

step "6/8 offline evaluation on the test splits (mvla eval)"
for r in "${evals[@]}"; do
  echo "-- $r"
  d=$(data_of "$r")
  cache=(); [ -f "$runs/$r/model.safetensors" ] && cache=(--cache "${members[0]}/frames.cache") # the members'
  "$mvla" eval "$(model_of "$r")" --data "$d" --manifest "$d.split.json" --json "$runs/$r/eval.json" "${cache[@]}"
done

echo "-- the ceiling: key match and MAE no model can beat on these episodes (an oracle with the true state)"
"$mvla" sim ceiling -n "${counts[0]}" --seed 1 | tail -4

step "7/8 closed-loop evaluation in the simulator, $rollouts rollouts per cell ($deploy_rollouts for the ensemble), other rollouts than the selection's (mvla sim eval)"
for r in "${evals[@]}"; do
  echo "-- $r"
  n=$rollouts; [ -f "$runs/$r/model.safetensors" ] && n=$deploy_rollouts
  "$mvla" sim eval --model "$(model_of "$r")" --rollouts "$n" --seed 7 --target cup \
    --json "$runs/$r/sim_eval.json" --svg "$runs/$r/sim_eval.svg"
done

step "8/8 int8, the policy step on 640x480 camera frames (mvla quantize, bench), and the leaderboard"
single=$out/student-s${seeds%% *}.safetensors
"$mvla" export "${members[0]}/checkpoints/best.safetensors" -o "$single"
deploy=$single
if [ -f "$ensemble/model.safetensors" ]; then deploy=$ensemble/model.safetensors; fi
"$mvla" quantize "$deploy" --cache "${members[0]}/frames.cache" --manifest "${dirs[0]}.split.json" \
  --out "$out/student-int8.safetensors" | tail -4
echo "-- int8 in closed loop"
"$mvla" sim eval --model "$out/student-int8.safetensors" --rollouts "$rollouts" --seed 7 --target cup | grep '^overall'
"$mvla" bench "$deploy" "$out/student-int8.safetensors" "$single" --threads 1,2 --steps 300 --quiet
"$mvla" leaderboard "$runs"
echo
echo "deployable model: $deploy (int8: $out/student-int8.safetensors)"
echo "run folders: $runs/* (curves.svg, metrics.jsonl, checkpoints/, sim_eval.svg); leaderboard: $runs/leaderboard.html"
