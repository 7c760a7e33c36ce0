"""Turn the JSON lines of `benches/side_by_side.sh` into the README's speed table.

    ./benches/side_by_side.sh | tee side_by_side.jsonl
    python3 benches/table.py side_by_side.jsonl
"""
import json, sys

ORDER = ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan", "acgan"]


def framework(row):
    f = row.get("framework", "ganlab")
    return "tensorflow" if f.startswith("tensorflow") else "pytorch" if f.startswith(("torch", "pytorch")) else "ganlab"


def main(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        rows[(r["spec"], framework(r))] = r
    print("| spec | GFLOP / iteration | ganlab ms (% of its GEMM peak) | PyTorch ms | TensorFlow ms | fastest peer / ganlab |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec in ORDER:
        g = rows.get((spec, "ganlab"))
        if not g:
            continue
        peers = [rows[(spec, f)]["median_ms"] for f in ("pytorch", "tensorflow") if (spec, f) in rows]
        cell = lambda f: f"{rows[(spec, f)]['median_ms']:,.1f}" if (spec, f) in rows else "-"
        ratio = f"{min(peers) / g['median_ms']:.2f}x" if peers else "-"
        print(f"| {spec} | {g['gflop_per_iter']:.2f} | {g['median_ms']:,.1f} ({g['pct_of_peak']:.0f} %) | "
              f"{cell('pytorch')} | {cell('tensorflow')} | {ratio} |")
    peaks = {f: r["peak_gflops"] for (s, f), r in rows.items() if "peak_gflops" in r}
    print()
    print("GEMM peak (2048^3 f32, 2 threads) in the same run: " +
          ", ".join(f"{f} {p:.0f} GFLOP/s" for f, p in sorted(peaks.items())))


if __name__ == "__main__":
    main(sys.argv[1])
