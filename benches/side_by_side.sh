#!/usr/bin/env bash
# ganlab beside its PyTorch and TensorFlow peers, interleaved: each round runs every
# engine on each spec group one after the other (starting with a different engine
# each round), so that a slow minute of a shared host falls on all of them; ROUNDS
# rounds for the MLPs (default 5), CNN_ROUNDS for the CNNs (default 3; CNN_WARMUP
# untimed iterations first, default 3), after an uncounted round 0. 2 threads
# everywhere. Every JSON line names the CPU (`cpu_model`, `cpu_vendor`, `cpu_family_model`, `cpu_cache`, `avx512`,
# `amx`, from /proc/cpuinfo) and its round.
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
# Untimed CNN iterations first, every engine alike: after 1, ganlab's first timed
# tanh_cnn_sgd iterations were still slower in some processes (five processes each,
# Intel Xeon 6/167: medians 347-376 ms after 1, 350-362 after 3; the largest timed
# iteration 359-394 against 359-366).
CNN_WARMUP="${CNN_WARMUP:-3}"
ROUNDS="${ROUNDS:-5}"
CNN_ROUNDS="${CNN_ROUNDS:-3}"
out="${1:-benches/results/side_by_side-$(date +%F).jsonl}"
cargo build --release -q
sync  # the build's writeback (a 50 MB binary) before round 1, not during it
bin=target/release/ganlab
: >"$out"
tag() { python3 -c 'import json,sys; r=sys.argv[1]
for l in sys.stdin:
    l=l.strip()
    if l.startswith("{"):
        d=json.loads(l); d["round"]=int(r); print(json.dumps(d), flush=True)' "$1"; }
# Each round starts with a different engine (rotating ganlab, PyTorch, TensorFlow), so
# that whatever the position in a round costs (the previous engine's exit, a slow
# minute's start) falls on every engine in turn.
mlp_ganlab() { "$bin" bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters "$ITERS" --json; }
mlp_torch() { "$PEER_PY" benches/peers/torch_mlp.py --threads 2 --iters "$ITERS"; }
mlp_tf() { "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$ITERS" --warmup 5 --specs vanilla_mlp_keras 2>/dev/null; }
cnn_ganlab() { "$bin" bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml experiments/acgan.yaml --threads 2 --iters "$CNN_ITERS" --warmup "$CNN_WARMUP" --json; }
cnn_torch() { "$PEER_PY" benches/peers/torch_cnn.py --threads 2 --iters "$CNN_ITERS" --warmup "$CNN_WARMUP"; }
cnn_tf() { "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$CNN_ITERS" --warmup "$CNN_WARMUP" --specs tanh_cnn_sgd,dcgan,acgan 2>/dev/null; }
# One engine's turn in round R: its lines go to $out. A peer that fails (TensorFlow's
# acgan on a CPU without AVX-512: "Conv2D ... only supports the NHWC tensor format")
# loses the figures it did not print, with a warning; the other engines and rounds go
# on. ganlab failing stops the run.
engine() {
  local f="$1" r="$2"
  if ! "$f" | tag "$r" >>"$out"; then
    case "$f" in
      *_ganlab) echo "error: $f failed in round $r" >&2; exit 1 ;;
      *) echo "warning: $f failed in round $r: the specs it had not printed have no figure from it this round" >&2 ;;
    esac
  fi
}
rotated() {  # rotated ROUND A B C: A B C, then B C A, then C A B, ...
  local r="$1"; shift; local e=("$@") k
  for k in 0 1 2; do echo "${e[$(( (k + r - 1) % 3 ))]}"; done
}
# Round 0 settles the host and is not counted (benches/rounds.py skips it): one MLP turn
# of every engine. The first process after the machine sat idle measured its GEMM peak
# at 299 GFLOP/s against 409-413 in the processes of rounds 2-5 (Intel Xeon 6/167,
# 2026-12-05, benches/results/side_by_side-2026-12-05-intel-winograd.jsonl), and
# round 1 always starts with ganlab.
echo "round 0 (settling, not counted): MLPs" >&2
for f in mlp_ganlab mlp_torch mlp_tf; do engine "$f" 0; done
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: MLPs" >&2
  for f in $(rotated "$r" mlp_ganlab mlp_torch mlp_tf); do engine "$f" "$r"; done
done
for r in $(seq 1 "$CNN_ROUNDS"); do
  echo "round $r/$CNN_ROUNDS: CNNs" >&2
  for f in $(rotated "$r" cnn_ganlab cnn_torch cnn_tf); do engine "$f" "$r"; done
done
python3 benches/rounds.py "$out"
