#!/usr/bin/env bash
# Type-check ganlab with `--features cuda` on a machine without a GPU or a CUDA
# install: NVIDIA's CUDA 13 compiler, headers and runtime from PyPI wheels, in a temp
# directory. candle-kernels compiles its kernels to PTX with that nvcc, so this checks
# the whole CUDA build except the final link (which needs the driver's libcuda).
# cudarc 0.19.10 knows CUDA up to 13.4, so a wrapper reports 13.4 to its version probe.
# About 7 minutes on 2 cores (target directory: $CUDA_CHECK_TARGET, default
# /tmp/ganlab-cuda-check). Not part of .ci/run.
#
#   bash .ci/cuda_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tk="$(mktemp -d)"
trap 'rm -rf "$tk"' EXIT
python3 -m pip download -q --no-deps -d "$tk/whl" \
  nvidia-cuda-nvcc==13.5.37 nvidia-cuda-runtime==13.5.37 nvidia-nvvm==13.5.37 nvidia-cuda-crt==13.5.37 nvidia-cuda-cccl
for w in "$tk"/whl/*.whl; do (cd "$tk" && python3 -m zipfile -e "$w" .); done
root="$tk/nvidia/cu13"
chmod +x "$root"/bin/* "$root"/nvvm/bin/*
mkdir -p "$tk/shim"
cat >"$tk/shim/nvcc" <<SH
#!/bin/sh
if [ "\$1" = "--version" ]; then "$root/bin/nvcc" --version | sed -E 's/release 13\.[5-9], V[0-9.]+/release 13.4, V13.4.0/'; exit 0; fi
exec "$root/bin/nvcc" "\$@"
SH
chmod +x "$tk/shim/nvcc"
PATH="$tk/shim:$root/bin:$PATH" CUDA_ROOT="$root" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" \
  CARGO_TARGET_DIR="${CUDA_CHECK_TARGET:-/tmp/ganlab-cuda-check}" \
  cargo check --release --features cuda --all-targets
echo "cargo check --features cuda: ok"
