#!/usr/bin/env bash
# Execute the six notebooks headless with the evcxr Jupyter kernel, in place, failing
# on any cell error (nbclient raises CellExecutionError). Installs what it needs:
# evcxr_jupyter (pinned, cargo install; a no-op when that version is installed) and
# nbclient in a virtual environment (.venv-nb).
#
# Every notebook's `:dep ganlab = { path = ".." }` compiles ganlab and its
# dependencies inside evcxr. The six kernels share one evcxr work directory
# (EVCXR_TMPDIR), so the five after the first find everything compiled; evcxr's
# compilation cache (`:cache`, set through a private EVCXR_CONFIG_DIR, kept under
# ~/.cache/evcxr) keeps the dependencies compiled from one CI run to the next.
#
#   GANLAB_DATA=../shared/data/mnist [GANLAB_RUNS=DIR] bash .ci/notebooks.sh [--only NAME,...]
#   bash .ci/notebooks.sh --install-only   # evcxr_jupyter and nbclient, no notebook run
#   bash .ci/notebooks.sh --warm           # and compile ganlab in the kernel, no notebook run
#
# NOTEBOOKS_EVCXR_DIR (optional) keeps evcxr's work directory and configuration there
# rather than in a temporary folder removed at the end, so that a `--warm` call (CI
# runs it in the background, beside the project's build and tests) leaves ganlab
# compiled for the call that executes the notebooks.
#
# The kernels' builds use evcxr's profile (opt-level 2) without debug assertions and
# overflow checks, and the crates that Cargo.toml's release profile builds at
# opt-level 1 (polars, minijinja, tokenizers) at opt-level 1 (a cargo configuration,
# which overrides the generated crate's profile): the release build's semantics, less
# code to compile, and labs that train at the release build's speed.
#
# GANLAB_RUNS (default notebooks/runs) is where each notebook looks for the latest
# completed run of its spec; it trains the spec's quick profile there when none exists.
set -euo pipefail
cd "$(dirname "$0")/.."
install_only=false; warm=false
case "${1:-}" in
  --install-only) install_only=true; shift ;;
  --warm) warm=true; shift ;;
esac
EVCXR_VERSION=0.22.0
if ! cargo install --list | grep -q "^evcxr_jupyter v$EVCXR_VERSION:"; then
  cargo install evcxr_jupyter --version "$EVCXR_VERSION" --locked
fi
evcxr_jupyter --install >/dev/null
python3 -m venv .venv-nb
.venv-nb/bin/pip install -q --disable-pip-version-check jupyter_client nbclient nbformat
if $install_only; then
  echo "evcxr_jupyter $EVCXR_VERSION and nbclient installed"
  exit 0
fi
if [ -n "${NOTEBOOKS_EVCXR_DIR:-}" ]; then
  base="$NOTEBOOKS_EVCXR_DIR"
else
  base="$(mktemp -d)"
  trap 'rm -rf "$base"' EXIT
fi
cfg="$base/config"
work="$base/work"
mkdir -p "$cfg" "$work"
echo ':cache 8000' >"$cfg/init.evcxr"
# The kernels' profile (see the top), in a cargo configuration beside evcxr's crate
# directory (cargo reads it from the parent directory; evcxr writes its own
# .cargo/config.toml in the crate directory): Cargo.toml's per-crate overrides of the
# release profile, copied as they are onto the dev profile evcxr builds with.
mkdir -p "$base/.cargo"
{
  printf '[profile.dev]\ndebug-assertions = false\noverflow-checks = false\n'
  awk '/^\[/ { keep = /^\[profile\.release\.package\./ } keep' Cargo.toml |
    sed 's/^\[profile\.release\./[profile.dev./'
} >"$base/.cargo/config.toml"
if $warm; then
  run=(--warm)
else
  : "${GANLAB_DATA:?set GANLAB_DATA to the MNIST directory}"
  run=(--execute "$@")
fi
# One evcxr work directory (crate and target) for the six kernels, run one after
# another: ganlab itself is compiled once, not once per notebook.
# (cargo's "Compiling ..." lines from inside the kernels are left out of the log.)
EVCXR_CONFIG_DIR="$cfg" EVCXR_TMPDIR="$work" .venv-nb/bin/python notebooks/build.py "${run[@]}" \
  2> >(grep -v -e '^ *Compiling ' -e '^No configuration file found' >&2)
