#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of the spec parser + validator,
# the IDX reader and the checkpoint loader, SECONDS_PER_TARGET each (default 60).
# Installs cargo-fuzz; uses the stable toolchain with RUSTC_BOOTSTRAP=1 for the
# sanitizer flags, set on `cargo fuzz` alone (set for the main build, it would change
# every fingerprint and rebuild target/ from scratch). The first run builds the whole
# dependency tree instrumented in fuzz/target (about as long as a cold release build). Seeds come from the real inputs (specs, MNIST headers, a
# checkpoint). A crash is saved under fuzz/artifacts/<target>/: add it to
# tests/mutation_fuzz.rs as a regression test, fix, re-run.
#
#   GANLAB_DATA=../shared/data/mnist bash .ci/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/spec fuzz/corpus/idx fuzz/corpus/checkpoint
cp experiments/*.yaml fuzz/corpus/spec/
for f in "${GANLAB_DATA:?set GANLAB_DATA}"/*-ubyte.gz; do
  gzip -dc "$f" 2>/dev/null | head -c 4096 >"fuzz/corpus/idx/$(basename "$f" .gz)" || true  # head closes the pipe early
done
rm -rf fuzz/seed-run
seed_run="$(cargo run --release -q -- run experiments/dcgan.yaml --profile quick --set train.epochs=1 \
  --set train.iters_per_epoch=1 --quiet --out fuzz/seed-run | tail -n 1)"
cp "$seed_run/checkpoints/d_final.safetensors" fuzz/corpus/checkpoint/
for t in spec idx checkpoint; do
  echo "== fuzz $t for ${secs}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --release "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 2>&1 | tail -n 3
done
