#!/usr/bin/env bash
# Two ganlab binaries interleaved (ABBA over ROUNDS rounds, default 3): the speed of one
# version against another on one machine, nothing else running. 2 threads; MLPs 60
# timed iterations, CNNs 5. Prints, per spec, each binary's median of its round
# medians, the ratio B / A and the round medians. `ONLY=mlp` or `ONLY=cnn` times one
# group only.
#
#   GANLAB_DATA=../shared/data/mnist bash benches/ab.sh OLD_BINARY NEW_BINARY [OUT.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
a="$1"; b="$2"; out="${3:-benches/results/ab-$(date +%F).jsonl}"
rounds="${ROUNDS:-3}"
only="${ONLY:-}"
: >"$out"
tag() { python3 -c 'import json,sys
for l in sys.stdin:
    l=l.strip()
    if l.startswith("{"):
        d=json.loads(l); d["binary"]=sys.argv[1]; d["round"]=int(sys.argv[2]); print(json.dumps(d), flush=True)' "$1" "$2"; }
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  [ "$only" = cnn ] || for x in $order; do
    bin="$a"; [ "$x" = B ] && bin="$b"
    "$bin" bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters 60 --json | tag "$x" "$r" >>"$out"
  done
  [ "$only" = mlp ] || for x in $order; do
    bin="$a"; [ "$x" = B ] && bin="$b"
    "$bin" bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml experiments/acgan.yaml --threads 2 --iters 5 --warmup 1 --json | tag "$x" "$r" >>"$out"
  done
  echo "round $r/$rounds done" >&2
done
python3 - "$out" "$a" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = next((r["cpu_model"] for r in rows if r.get("cpu_model")), "unknown (neither binary prints its CPU)")
print(f"CPU: {cpu}; A = {sys.argv[2]}, B = {sys.argv[3]}")
print("| spec | A ms | B ms | B / A | A round medians | B round medians |")
print("| --- | --- | --- | --- | --- | --- |")
for spec in ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan", "acgan"]:
    m = {x: [r["median_ms"] for r in rows if r["spec"] == spec and r["binary"] == x] for x in "AB"}
    if not m["A"] or not m["B"]:
        continue
    a, b = statistics.median(m["A"]), statistics.median(m["B"])
    f = lambda v: ", ".join(f"{x:.1f}" for x in v)
    print(f"| {spec} | {a:.1f} | {b:.1f} | {b / a:.3f} | {f(m['A'])} | {f(m['B'])} |")
PY
