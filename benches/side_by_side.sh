#!/usr/bin/env bash
# ganlab and its PyTorch and TensorFlow peers, one after the other on the same
# machine, 2 threads. Needs a Python environment with torch (PEER_PY) and one with
# tensorflow-cpu and tf-keras (TF_PY; the articles' own Keras code):
#   python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch
#   python3 -m venv /tmp/tfpeers && /tmp/tfpeers/bin/pip install tensorflow-cpu tf-keras safetensors
# Prints one JSON object per spec per framework.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_PY="${PEER_PY:-/tmp/peers/bin/python}"
TF_PY="${TF_PY:-/tmp/tfpeers/bin/python}"
ITERS="${ITERS:-60}"
CNN_ITERS="${CNN_ITERS:-5}"
cargo run --release -q -- bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters "$ITERS" --json
"$PEER_PY" benches/peers/torch_mlp.py --threads 2 --iters "$ITERS"
cargo run --release -q -- bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml experiments/acgan.yaml --threads 2 --iters "$CNN_ITERS" --warmup 1 --json
"$PEER_PY" benches/peers/torch_cnn.py --threads 2 --iters "$CNN_ITERS" --warmup 1
"$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$ITERS" --warmup 5 --specs vanilla_mlp_keras 2>/dev/null
"$TF_PY" benches/peers/tf_keras.py --threads 2 --iters "$CNN_ITERS" --warmup 1 --specs tanh_cnn_sgd,dcgan,acgan 2>/dev/null
