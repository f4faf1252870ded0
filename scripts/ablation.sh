#!/usr/bin/env bash
# The student's ablation table (docs/ablation.md): the default student against one change at a time,
# each trained on the same simulated 72-episode split (the 500-episode row on a larger set with the
# same number of optimiser steps), evaluated offline on its test split and in closed loop in the
# simulator. Runs two trainings at a time, one core each.
#   scripts/ablation.sh [build/mvla]      (~30 min on 2 cores)
#   Every run keeps the checkpoint with the best closed-loop success on the instructed side in its
#   selection rollouts (seed 101)
#   as make demo does, except select-val-mae (the lowest validation MAE); the table's closed loop is seed 7.
#   With runs of the default student on two or more seeds, the `ensemble` row is the ensemble of the
#   first two (`mvla ensemble`: one model file, the members' mean action), and `ensemble-mirror` the same
#   with mirror averaging (`--mirror`: each member also on the mirrored view).
# Environment: ABL_OUT (default ablation-out), ABL_STEPS (default 2400), ABL_SEEDS (default "1"),
#              ABL_ROLLOUTS (default 20 per cell: 480 rollouts, ~20 s a run), ABL_DOC (default
#              docs/ablation.md), ABL_ONLY (variant names to (re)train, default all; the table covers
#              every run folder in ABL_OUT/runs).
set -euo pipefail
mvla=${1:-build/mvla}
out=${ABL_OUT:-ablation-out}
steps=${ABL_STEPS:-2400}
seeds=${ABL_SEEDS:-1}
rollouts=${ABL_ROLLOUTS:-20}
doc=${ABL_DOC:-docs/ablation.md}
runs=$out/runs
mkdir -p "$runs" "$out/configs"

# name | policy overrides over the student preset | other train overrides | dataset (72 or 500) | train.select
variants=(
  'student|||72|sim'
  'input-64|"encoder": {"input_width": 64, "input_height": 64}||72|sim'
  'input-96|"encoder": {"input_width": 96, "input_height": 96}||72|sim'
  'no-history|"head": {"kind": "none", "window": 1}||72|sim'
  'film|"fusion": {"kind": "film"}||72|sim'
  'discrete|"action": {"kind": "discrete"}||72|sim'
  'no-mirror||"augment": {"mirror_prob": 0}|72|sim'
  'ngram-tokens|"instruction": {"ngram_min": 2, "ngram_max": 3}||72|sim'
  'select-val-mae|||72|val_mae'
  '500-episodes|||500|sim'
)

for n in 72 500; do
  d=$out/episodes-$n
  if [ ! -f "$d.split.json" ]; then
    "$mvla" sim generate -o "$d" -n "$n" --seed 1
    "$mvla" data split "$d" -o "$d.split.json" --seed 1 | tail -1
  fi
done

run_variant() { # name policy train n select seed
  local name=$1 policy=$2 train=$3 n=$4 select=$5 seed=$6
  local run=$runs/$name-s$seed d=$out/episodes-$n cfg=$out/configs/$name.json
  local sep=""; [ -n "$policy" ] && sep=", "
  local tsep=""; [ -n "$train" ] && tsep=", "
  printf '{"preset": "student", "policy": {"name": "%s"%s%s}, "train": {"select": "%s"%s%s}}\n' \
    "$name" "$sep" "$policy" "$select" "$tsep" "$train" > "$cfg"
  rm -rf "$run"
  "$mvla" --threads 1 train --data "$d" --manifest "$d.split.json" --out "$run" --config "$cfg" \
    --steps "$steps" --seed "$seed" --cache "$out/frames-$n-$name.cache" > "$run.log" 2>&1
  "$mvla" --threads 1 eval "$run/checkpoints/best.safetensors" --data "$d" --manifest "$d.split.json" >> "$run.log" 2>&1
  "$mvla" --threads 1 sim eval --model "$run/checkpoints/best.safetensors" --rollouts "$rollouts" --seed 7 \
    --target cup --json "$run/sim_eval.json" >> "$run.log" 2>&1
  echo "done: $name seed $seed ($(grep -m1 '^overall' "$run.log" | tr -s ' ' | cut -c1-60))"
}

jobs_running() { jobs -rp | wc -l; }
for seed in $seeds; do
  for v in "${variants[@]}"; do
    IFS='|' read -r name policy train n select <<< "$v"
    if [ -n "${ABL_ONLY:-}" ] && [[ " $ABL_ONLY " != *" $name "* ]]; then continue; fi
    while [ "$(jobs_running)" -ge 2 ]; do sleep 2; done
    echo "start: $name seed $seed"
    run_variant "$name" "$policy" "$train" "$n" "$select" "$seed" &
  done
done
wait

members=()
for r in "$runs"/student-s[0-9]*; do if [ -d "$r" ] && [ "${#members[@]}" -lt 2 ]; then members+=("$r"); fi; done
if [ "${#members[@]}" -eq 2 ]; then
  for mirror in "" --mirror; do
    ens=$runs/ensemble-${members[0]##*-}${members[1]##*-}${mirror:+-mirror}
    d=$out/episodes-72
    "$mvla" ensemble "${members[@]}" -o "$ens" $mirror
    "$mvla" --threads 1 eval "$ens/model.safetensors" --data "$d" --manifest "$d.split.json" --json "$ens/eval.json" \
      --cache "$out/frames-72-student.cache" > "$ens.log" 2>&1
    "$mvla" --threads 1 sim eval --model "$ens/model.safetensors" --rollouts "$rollouts" --seed 7 --target cup \
      --json "$ens/sim_eval.json" >> "$ens.log" 2>&1
    echo "done: $(basename "$ens") ($(grep -m1 '^overall' "$ens.log" | tr -s ' ' | cut -c1-60))"
  done
fi

"$mvla" leaderboard "$runs" > /dev/null
seeds_done=$(ls "$runs" | sed -n 's/.*-s\([0-9]*\)$/\1/p' | sort -un | tr '\n' ' ')
{
  echo "# Student ablation"
  echo
  echo "Produced by \`scripts/ablation.sh\` ($(date -u +%Y-%m-%d), seeds: ${seeds_done% }, $steps optimiser steps per run,"
  echo "early stopping with the preset's patience). Each row changes one thing in the default"
  echo "student (\`configs/student.json\`: 128x128 frames, concat fusion, whole-word instruction tokens, LSTM over 16"
  echo "frames, continuous actions regressed with L1, mirror augmentation): \`input-64\` and \`input-96\` see smaller"
  echo "frames, \`no-history\` has no temporal head, \`film\` fuses"
  echo "the instruction by FiLM, \`discrete\` classifies the teleop keys (cross-entropy), \`no-mirror\` trains without"
  echo "mirroring, \`ngram-tokens\`"
  echo "adds code-point n-grams to the instruction tokens, \`select-val-mae\` keeps the checkpoint with the lowest"
  echo "validation MAE instead of the best closed-loop success on the instructed side in the selection rollouts"
  echo "(\`train.select\` \"sim\", seed 101, 96 rollouts an epoch), \`500-episodes\` trains on 350 instead of 51"
  echo "episodes, \`ensemble\` is one model file averaging the actions of the default student's first two seeds"
  echo "(\`mvla ensemble\`), and \`-mirror\` the same with each member also driving the mirrored view (\`mvla ensemble --mirror\`)."
  echo "Test MAE and key match on each set's test split (7 episodes for 72, 50 for 500: the small test set is"
  echo "noisy); instruction follow: the predicted slide follows the instruction when left/right are swapped;"
  echo "closed loop: \`mvla sim eval --target cup --rollouts $rollouts\` over the 24 scenario x side x distance cells."
  echo "One variant's seeds differ by a few points (see the student's), so a single-seed difference of less than"
  echo "about 3 points between two variants says little."
  echo
  echo "Per variant, over the seeds (closed-loop success per seed, then the means):"
  echo
  echo "| variant | closed loop per seed | closed loop | adherence | instruction follow | key match |"
  echo "|---|---|---:|---:|---:|---:|"
  # leaderboard columns (split on |): 3 model, 5 key match, 13 instruction follow, 14 closed loop, 15 adherence
  sed -n '/^| rank/,$p' "$runs/leaderboard.md" | awk -F'|' 'NR > 2 {
      v = $3; gsub(/^ +| +$/, "", v); seed = v; sub(/-s[0-9]+$/, "", v); sub(/.*-s/, "s", seed)
      if (!(v in n)) order[++nv] = v
      c = $14; gsub(/ /, "", c)
      n[v]++; per[v] = per[v] (per[v] == "" ? "" : ", ") seed " " c
      cl[v] += $14; ad[v] += $15; fo[v] += $13; km[v] += $5
    } END {
      for (i = 1; i <= nv; i++) { v = order[i]
        printf "| %s | %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% |\n", v, per[v], cl[v] / n[v], ad[v] / n[v], fo[v] / n[v], km[v] / n[v] }
    }' | sort -t'|' -k4,4 -rn
  echo
  echo "Every run:"
  echo
  sed -n '/^| rank/,$p' "$runs/leaderboard.md"
} > "$doc"
echo "wrote $doc"
cat "$doc"
