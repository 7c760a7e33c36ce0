#!/usr/bin/env bash
# 002's early collapse, both engines, on more seeds than the record: seeds 11-20, 2
# epochs (1,200 iterations) each, no scoring, into OUT (default /tmp/early_collapse);
# then early_collapse.py counts the runs whose D output on fakes averages under 0.01
# over the second epoch (a dead G, as the record's collapsed runs).
#
#   GANLAB_DATA=../shared/data/mnist GANLAB_PEER_PY=.venv-peers/bin/python \
#     bash reports/reproduction/early_collapse.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-/tmp/early_collapse}"
bin="${GANLAB_BIN:-target/release/ganlab}"
off=(--set train.epochs=2 --set eval.every_epochs=0 --set checkpoint.every=0 --set samples.every=0 --threads 2 --out "$out" --quiet)
for s in $(seq 11 20); do
  "$bin" run experiments/mlp_pytorch.yaml --set "seed=$s" "${off[@]}" | tail -n 1
  "$bin" reference experiments/mlp_pytorch.yaml --seed "$s" "${off[@]}" | tail -n 1
done
python3 reports/reproduction/early_collapse.py "$out"
