"""Seed-paired per-step metrics over windows of iterations, ganlab beside the article's
own code, for the runs under one folder: for each window, each engine's mean over the
paired seeds of its per-run window mean, the paired difference (ganlab minus the
article's code) with a t-based 95 % half-width, and how many pairs have ganlab above.
Where in a run two engines part, which final scores cannot show.

    .venv-peers/bin/python reports/reproduction/windows.py reports/reproduction/runs/vanilla_mlp_keras [EDGES]

EDGES: comma-separated window edges in iterations (default 0,200,800,2000,4000,8000,11000,12800).
"""

import json
import math
import statistics
import sys
from pathlib import Path

import polars as pl

# Two-sided 95 % t quantiles for 1-30 degrees of freedom (beyond: 1.96).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
       2.045, 2.042]


def runs(folder):
    """(seed, engine) -> metrics of each completed run under `folder`."""
    out = {}
    for d in sorted(Path(folder).glob("*/")):
        m = d / "manifest.json"
        if d.name.endswith(".stopped") or not m.exists():
            continue
        man = json.loads(m.read_text())
        if man.get("status") != "completed":
            continue
        engine = "article" if man.get("engine") else "ganlab"
        out[(man["seed"], engine)] = pl.read_parquet(d / "metrics.parquet")
    return out


def main(folder, edges):
    rs = runs(folder)
    seeds = sorted(s for s, e in rs if e == "ganlab" and (s, "article") in rs)
    if len(seeds) < 2:
        raise SystemExit(f"{folder}: {len(seeds)} seed(s) with both engines completed; need 2 or more")
    print(f"{folder}: {len(seeds)} paired seeds ({', '.join(map(str, seeds))})")
    t = T95[len(seeds) - 2] if len(seeds) - 1 <= len(T95) else 1.96
    for col in ["g_loss", "d_loss", "d_real", "d_fake"]:
        print(f"\n{col}\n| steps | ganlab | article's code | difference [95 % half-width] | ganlab above |")
        print("| --- | --- | --- | --- | --- |")
        for lo, hi in zip(edges, edges[1:]):
            w = lambda df: df.filter((pl.col("step") > lo) & (pl.col("step") <= hi))[col].mean()
            pairs = [(w(rs[(s, "ganlab")]), w(rs[(s, "article")])) for s in seeds]
            pairs = [(g, a) for g, a in pairs if g is not None and a is not None]
            if len(pairs) < 2:
                continue
            d = [g - a for g, a in pairs]
            half = t * statistics.stdev(d) / math.sqrt(len(d))
            print(f"| {lo + 1}-{hi} | {statistics.mean(g for g, _ in pairs):.4f} | "
                  f"{statistics.mean(a for _, a in pairs):.4f} | {statistics.mean(d):+.4f} [{half:.4f}] | "
                  f"{sum(x > 0 for x in d)} of {len(d)} |")


if __name__ == "__main__":
    edges = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "0,200,800,2000,4000,8000,11000,12800").split(",")]
    main(sys.argv[1], edges)
