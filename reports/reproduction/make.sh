#!/usr/bin/env bash
# The reproduction record (issue 18): for one article, ganlab and the article's own
# code, one run per seed and engine, at the record's budget, scored by the pinned
# evaluator, trimmed to the compact data that is committed.
#
#   GANLAB_DATA=../shared/data/mnist GANLAB_TF_PY=... GANLAB_PEER_PY=... \
#     bash reports/reproduction/make.sh SPEC "SEEDS" [ENGINES] [-- --set KEY=VALUE ...]
#
#   SPEC     vanilla_mlp_keras | mlp_pytorch | dcgan | tanh_cnn_sgd | acgan
#   SEEDS    e.g. "1 2 3"
#   ENGINES  "ganlab reference" (default) or one of them
#   RUNS_DIR where the runs go (default reports/reproduction/runs; a claim's longer
#            run goes elsewhere, so that the record's verdicts keep their budget)
#
# Started again, it skips the (seed, engine) pairs that have a completed run and
# resumes an interrupted or killed ganlab run (`ganlab resume`). It runs with the
# binary in target/release, or GANLAB_BIN (a copy, so that rebuilding meanwhile does
# not change the binary halfway), and 2 threads, in the order given.
# The budgets of the record (README.md beside this file) are set here per spec.
set -euo pipefail
cd "$(dirname "$0")/../.."
spec="$1"; seeds="$2"; engines="${3:-ganlab reference}"
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
bin="${GANLAB_BIN:-target/release/ganlab}"  # a copy keeps one binary for a whole record
out="${RUNS_DIR:-reports/reproduction/runs}"  # RUNS_DIR: elsewhere, e.g. a claim's longer run
case "$spec" in
  vanilla_mlp_keras) budget=(--set train.epochs=100 --set eval.every_epochs=10) ;;
  mlp_pytorch)       budget=(--set train.epochs=40 --set eval.every_epochs=4) ;;
  dcgan)             budget=(--set train.epochs=5 --set eval.every_epochs=1) ;;
  tanh_cnn_sgd)      budget=(--set train.epochs=2 --set eval.every_epochs=1) ;;
  acgan)             budget=(--set train.epochs=1 --set eval.every_epochs=1) ;;
  *) echo "unknown spec $spec" >&2; exit 2 ;;
esac
# So that a stopped session loses little of a ganlab run: the one overwritten `iter`
# checkpoint once an epoch (every 100 iterations for ACGAN's long epoch). 001 keeps
# its article's own schedule (every 100 iterations, at index % 100 == 9), which
# `sample --nice` reads. trim removes the checkpoints at the end.
case "$spec" in
  vanilla_mlp_keras) resumable=(--set checkpoint.every_iters=128) ;;
  mlp_pytorch)       resumable=(--set checkpoint.every_iters=600) ;;
  dcgan)             resumable=(--set checkpoint.every_iters=234) ;;
  acgan)             resumable=(--set checkpoint.every_iters=100) ;;
  *)                 resumable=() ;;
esac

# The run of (seed, engine) under $out/$spec, if any: "STATUS DIR".
find_run() {
  local seed="$1" engine="$2" d
  for d in "$out/$spec"/*/; do
    case "$d" in *.stopped/) continue ;; esac  # set aside, superseded by a new run
    [ -f "$d/manifest.json" ] || continue
    python3 - "$d" "$seed" "$engine" <<'PY' && return 0
import json, sys
d, seed, engine = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = json.load(open(d + "/manifest.json"))
kind = "reference" if m.get("engine") else "ganlab"
if m["seed"] == seed and kind == engine:
    print(m["status"], d.rstrip("/"))
    sys.exit(0)
sys.exit(1)
PY
  done
  return 1
}

# Keep what the record commits: config, manifest, metrics, eval, the final grid and
# the final samples; drop checkpoints and the intermediate grids and plots.
trim() {
  local d="$1" last
  rm -rf "$d/checkpoints" "$d/plots" "$d/reference/steps.csv"
  # The last end-of-epoch grid (epoch_NNNN.png); 001's article also saves grids within an
  # epoch (epoch_NNNN_iter_NNNN.png), which sort after it and are not the final one.
  last="$(ls "$d"/samples/epoch_[0-9][0-9][0-9][0-9].png 2>/dev/null | sort | tail -n 1 || true)"
  for g in "$d"/samples/*.png; do [ "$g" = "$last" ] || [ "$g" = "$d/samples/nice.png" ] || rm -f "$g"; done
}

for seed in $seeds; do
  for engine in $engines; do
    found="$(find_run "$seed" "$engine" || true)"
    status="${found%% *}"; dir="${found#* }"
    if [ "$status" = "completed" ]; then
      echo "seed $seed, $engine: completed ($dir)"; continue
    fi
    t0=$SECONDS
    if [ "$engine" = ganlab ]; then
      if [ -n "$found" ] && compgen -G "$dir/checkpoints/state_*.json" >/dev/null; then
        echo "seed $seed, ganlab: resuming $dir ($status)"
        "$bin" resume "$dir" --threads 2 --quiet
      else
        if [ -n "$found" ]; then
          echo "seed $seed, ganlab: $dir stopped ($status) with no checkpoint; starting it again"
          mv "$dir" "$dir.stopped"
        fi
        dir="$("$bin" run "experiments/$spec.yaml" --set "seed=$seed" "${budget[@]}" "${resumable[@]}" \
          "${extra[@]}" --threads 2 --out "$out" --quiet | tail -n 1)"
      fi
      "$bin" eval "$dir" --save-images "$dir/samples/final.idx.gz" >/dev/null
      # 001's article shows its "nice" samples (the keras-dcgan notebook's generate(nice=True):
      # D's favourites of many); made here, before trim drops the checkpoint it needs.
      if [ "$spec" = tanh_cnn_sgd ]; then
        "$bin" sample "$dir" --nice --n 64 -o "$dir/samples/nice.png" >/dev/null
      fi
    else
      if [ -n "$found" ]; then
        echo "seed $seed, reference: $dir stopped ($status); starting a fresh run (the article's code has no checkpoints)"
        mv "$dir" "$dir.stopped"
      fi
      dir="$("$bin" reference "experiments/$spec.yaml" --seed "$seed" "${budget[@]}" "${extra[@]}" \
        --threads 2 --out "$out" --quiet | tail -n 1)"
    fi
    trim "$dir"
    echo "seed $seed, $engine: $dir in $((SECONDS - t0)) s"
  done
done
