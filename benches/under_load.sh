#!/usr/bin/env bash
# Steadiness under load (issue 19): each engine's step with and without a busy loop
# stealing one of the two cores, interleaved over ROUNDS rounds (default 2), for the
# spec groups in SPEC_GROUPS ("mlp cnn" by default: the two MLPs, 60 iterations a
# measurement, then tanh_cnn_sgd and dcgan, 5).
# Prints, per spec and engine, the round medians under each condition and the
# slowdown (median under the hog / median without). A threading design that waits
# on a descheduled thread, or spins against the other pool, slows by more.
#
#   GANLAB_DATA=../shared/data/mnist PEER_PY=.venv-peers/bin/python TF_PY=.venv-peers/bin/python \
#     bash benches/under_load.sh [OUT.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_PY="${PEER_PY:-.venv-peers/bin/python}"
TF_PY="${TF_PY:-.venv-peers/bin/python}"
ROUNDS="${ROUNDS:-2}"
SPEC_GROUPS="${SPEC_GROUPS:-mlp cnn}"
out="${1:-benches/results/under_load-$(date +%F).jsonl}"
cargo build --release -q
bin=target/release/ganlab
: >"$out"
tag() { python3 -c 'import json,sys
for l in sys.stdin:
    if l.startswith("{"):
        d=json.loads(l); d["load"]=sys.argv[1]; d["round"]=int(sys.argv[2])
        d["engine"]=d.get("framework","ganlab").split()[0]; print(json.dumps(d), flush=True)' "$1" "$2"; }
hog=""
trap '[ -n "$hog" ] && kill "$hog" 2>/dev/null || true' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for load in none hog; do
    if [ "$load" = hog ]; then python3 -c "while True: pass" & hog=$!; sleep 1; fi
    for g in $SPEC_GROUPS; do
      if [ "$g" = mlp ]; then
        "$bin" bench experiments/vanilla_mlp_keras.yaml experiments/mlp_pytorch.yaml --threads 2 --iters 60 --json | tag "$load" "$r" >>"$out"
        "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters 60 --warmup 5 --specs vanilla_mlp_keras 2>/dev/null | tag "$load" "$r" >>"$out"
        "$PEER_PY" benches/peers/torch_mlp.py --threads 2 --iters 60 | tag "$load" "$r" >>"$out"
      else
        "$bin" bench experiments/tanh_cnn_sgd.yaml experiments/dcgan.yaml --threads 2 --iters 5 --warmup 1 --json | tag "$load" "$r" >>"$out"
        "$TF_PY" benches/peers/tf_keras.py --threads 2 --iters 5 --warmup 1 --specs tanh_cnn_sgd,dcgan 2>/dev/null | tag "$load" "$r" >>"$out"
        "$PEER_PY" benches/peers/torch_cnn.py --threads 2 --iters 5 --warmup 1 | tag "$load" "$r" >>"$out"
      fi
    done
    if [ -n "$hog" ]; then kill "$hog"; hog=""; fi
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = next((r["cpu_model"] for r in rows if r.get("cpu_model")), "unknown")
print(f"CPU: {cpu}")
print("| spec | engine | round medians, idle (ms) | under a 1-core hog (ms) | slowdown |")
print("| --- | --- | --- | --- | --- |")
for spec in ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan"]:
    for eng in ["ganlab", "tensorflow", "pytorch"]:
        v = {L: [r["median_ms"] for r in rows if r["spec"] == spec and r["engine"] == eng and r["load"] == L] for L in ("none", "hog")}
        if v["none"] and v["hog"]:
            s = statistics.median(v["hog"]) / statistics.median(v["none"])
            print(f"| {spec} | {eng} | {', '.join(f'{x:.1f}' for x in v['none'])} | {', '.join(f'{x:.1f}' for x in v['hog'])} | {s:.2f} |")
PY
