#!/usr/bin/env bash
# ganlab and its PyTorch peers, one after the other on the same machine, 2 threads.
# Needs a Python environment with torch: PEER_PY=/path/to/venv/bin/python
#   python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch
# Prints one JSON object per spec per framework.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_PY="${PEER_PY:-/tmp/peers/bin/python}"
ITERS="${ITERS:-60}"
CNN_ITERS="${CNN_ITERS:-5}"
cargo run --release -q -- bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters "$ITERS" --json
"$PEER_PY" benches/peers/torch_mlp.py --threads 2 --iters "$ITERS"
cargo run --release -q -- bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml experiments/acgan.yaml --threads 2 --iters "$CNN_ITERS" --warmup 1 --json
"$PEER_PY" benches/peers/torch_cnn.py --threads 2 --iters "$CNN_ITERS" --warmup 1
