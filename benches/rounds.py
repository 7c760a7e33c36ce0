"""Summarise the rounds of `benches/side_by_side.sh`: per spec and engine, the median
of the round medians and their spread (smallest and largest round median), and
ganlab's ratio to the fastest peer; beside them, the range of the GEMM peak each engine's
processes measured at their start (2048^3 f32, 2 threads: how fast the host was at
each round, which moves the round medians of every engine). Round 0 (settling) is not
counted. Refuses lines from more than one CPU model: a
ratio only means something between engines measured side by side on one machine.

    python3 benches/rounds.py benches/results/side_by_side-DATE.jsonl
"""
import json
import statistics
import sys

ORDER = ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan", "acgan"]
ENGINES = ["ganlab", "pytorch", "tensorflow"]


def engine(row):
    f = row.get("framework", "ganlab")
    return "tensorflow" if f.startswith("tensorflow") else "pytorch" if f.startswith(("torch", "pytorch")) else "ganlab"


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    # Family/model and cache tell apart hosts that share a model name (absent from
    # files recorded before 2026-12-04's second Intel host).
    cpus = {(r.get("cpu_model", "unknown"), r.get("cpu_vendor", "unknown"), r.get("avx512"), r.get("amx"),
             r.get("cpu_family_model", "?"), r.get("cpu_cache", "?")) for r in rows}
    if len(cpus) != 1:
        raise SystemExit(f"{path}: lines from {len(cpus)} CPUs ({cpus}); compare engines on one machine only")
    model, vendor, avx512, amx, fm, cache = cpus.pop()
    print(f"CPU: {model} ({vendor}; family/model {fm}, cache {cache}; "
          f"AVX-512 {'yes' if avx512 else 'no'}, AMX {'yes' if amx else 'no'})")
    # Round 0 settles the host (side_by_side.sh) and is not counted.
    settling = [r for r in rows if r.get("round") == 0]
    rows = [r for r in rows if r.get("round") != 0]
    if settling:
        print(f"({len(settling)} lines of the settling round 0 not counted)")
    rounds, peaks = {}, {}
    for r in rows:
        rounds.setdefault((r["spec"], engine(r)), []).append(r["median_ms"])
        if r.get("peak_gflops"):
            peaks.setdefault((r["spec"], engine(r)), []).append(r["peak_gflops"])
    print("| spec | engine | rounds | median of round medians (ms) | spread (min-max, ms) | spread / median "
          "| GEMM peak at each process's start (GFLOP/s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for spec in ORDER:
        med = {}
        for e in ENGINES:
            v = rounds.get((spec, e))
            if not v:
                continue
            m = statistics.median(v)
            med[e] = m
            pk = peaks.get((spec, e))
            pk = f"{min(pk):,.0f}-{max(pk):,.0f}" if pk else "-"
            print(f"| {spec} | {e} | {len(v)} | {m:,.1f} | {min(v):,.1f}-{max(v):,.1f} | {(max(v) - min(v)) / m:.0%} "
                  f"| {pk} |")
        peers = {e: m for e, m in med.items() if e != "ganlab"}
        if "ganlab" in med and peers:
            fastest = min(peers, key=peers.get)
            ratios.append(f"{spec}: fastest peer {fastest} {peers[fastest]:,.1f} ms / ganlab {med['ganlab']:,.1f} ms"
                          f" = {peers[fastest] / med['ganlab']:.2f}x")
    print()
    for r in ratios:
        print(r)


if __name__ == "__main__":
    main(sys.argv[1])
