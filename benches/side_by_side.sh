#!/usr/bin/env bash
# ganlab beside its PyTorch and TensorFlow peers, interleaved: each round runs every
# engine on each spec group one after the other, so that a slow minute of a shared
# host falls on all of them; ROUNDS rounds for the MLPs (default 5), CNN_ROUNDS for
# the CNNs (default 3). 2 threads everywhere. Every JSON line names the CPU
# (`cpu_model`, `cpu_vendor`, `avx512`, `amx`, from /proc/cpuinfo) and its round.
# Then benches/rounds.py prints, per spec and engine, the median of the round
# medians and their spread (the smallest and largest round median), and the ratio to
# the fastest peer, for the one CPU the lines come from.
#
#   PEER_PY=.venv-peers/bin/python TF_PY=.venv-peers/bin/python bash benches/side_by_side.sh [OUT.jsonl]
#
# Needs a Python with torch (PEER_PY) and one with tensorflow-cpu and tf-keras
# (TF_PY; the articles' own Keras code), e.g. the .venv-peers that .ci/run makes.
# Run it on an otherwise idle machine: nothing else may run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_PY="${PEER_PY:-.venv-peers/bin/python}"
TF_PY="${TF_PY:-.venv-peers/bin/python}"
ITERS="${ITERS:-60}"
CNN_ITERS="${CNN_ITERS:-5}"
ROUNDS="${ROUNDS:-5}"
CNN_ROUNDS="${CNN_ROUNDS:-3}"
out="${1:-benches/results/side_by_side-$(date +%F).jsonl}"
cargo build --release -q
bin=target/release/ganlab
: >"$out"
tag() { python3 -c 'import json,sys; r=sys.argv[1]
for l in sys.stdin:
    l=l.strip()
    if l.startswith("{"):
        d=json.loads(l); d["round"]=int(r); print(json.dumps(d), flush=True)' "$1"; }
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: MLPs" >&2
  "$bin" bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters "$ITERS" --json | tag "$r" >>"$out"
  "$PEER_PY" benches/peers/torch_mlp.py --threads 2 --iters "$ITERS" | tag "$r" >>"$out"
  "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$ITERS" --warmup 5 --specs vanilla_mlp_keras 2>/dev/null | tag "$r" >>"$out"
done
for r in $(seq 1 "$CNN_ROUNDS"); do
  echo "round $r/$CNN_ROUNDS: CNNs" >&2
  "$bin" bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml experiments/acgan.yaml --threads 2 --iters "$CNN_ITERS" --warmup 1 --json | tag "$r" >>"$out"
  "$PEER_PY" benches/peers/torch_cnn.py --threads 2 --iters "$CNN_ITERS" --warmup 1 | tag "$r" >>"$out"
  "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$CNN_ITERS" --warmup 1 --specs tanh_cnn_sgd,dcgan,acgan 2>/dev/null | tag "$r" >>"$out"
done
python3 benches/rounds.py "$out"
