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
#
# GANLAB_RUNS (default notebooks/runs) is where each notebook looks for the latest
# completed run of its spec; it trains the spec's quick profile there when none exists.
set -euo pipefail
cd "$(dirname "$0")/.."
install_only=false
if [ "${1:-}" = "--install-only" ]; then install_only=true; shift; fi
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
: "${GANLAB_DATA:?set GANLAB_DATA to the MNIST directory}"
cfg="$(mktemp -d)"
work="$(mktemp -d)"
trap 'rm -rf "$cfg" "$work"' EXIT
echo ':cache 8000' >"$cfg/init.evcxr"
# One evcxr work directory (crate and target) for the six kernels, run one after
# another: ganlab itself is compiled once, not once per notebook.
# (cargo's "Compiling ..." lines from inside the kernels are left out of the log.)
EVCXR_CONFIG_DIR="$cfg" EVCXR_TMPDIR="$work" .venv-nb/bin/python notebooks/build.py --execute "$@" \
  2> >(grep -v -e '^ *Compiling ' -e '^No configuration file found' >&2)
