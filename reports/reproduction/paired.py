"""Seed by seed, ganlab beside the article's own code, for the runs under one folder.

For each seed with a completed run of both engines: the final FID (10,000 samples),
and over the middle half of the run's iterations (a quarter to three quarters) the
mean of D's loss and of D's outputs on the real and the fake half of its batch. Then
the paired differences (ganlab minus the article's code): their mean, a t-based 95 %
interval, and how many pairs have ganlab above.

    .venv-peers/bin/python reports/reproduction/paired.py reports/reproduction/same_cpu/tanh_cnn_sgd
"""

import json
import math
import sys
from pathlib import Path

import polars as pl

# Two-sided 95 % t quantiles by degrees of freedom (1-30); beyond, the normal's.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def runs(folder):
    """{(seed, engine): run directory} of the completed runs."""
    out = {}
    for d in sorted(Path(folder).iterdir()):
        m = d / "manifest.json"
        if not m.is_file() or d.name.endswith(".stopped"):
            continue
        man = json.loads(m.read_text())
        if man.get("status") != "completed":
            continue
        engine = "reference" if man.get("engine") else "ganlab"
        out[(man["seed"], engine)] = d
    return out


def figures(d):
    ev = pl.read_parquet(d / "eval.parquet")
    fid = ev.filter(pl.col("checkpoint") == "final")["fid"][0]
    m = pl.read_parquet(d / "metrics.parquet")
    lo, hi = m.height // 4, 3 * m.height // 4
    mid = m.slice(lo, hi - lo)
    return {
        "final FID": fid,
        "D loss (mid)": mid["d_loss"].mean(),
        "D(x) (mid)": mid["d_real"].mean(),
        "D(G(z)) (mid)": mid["d_fake"].mean(),
    }


def main(folder):
    rs = runs(folder)
    seeds = sorted(s for s, e in rs if e == "ganlab" and (s, "reference") in rs)
    if not seeds:
        sys.exit(f"no seed under {folder} has a completed run of both engines")
    rows = {s: (figures(rs[(s, "ganlab")]), figures(rs[(s, "reference")])) for s in seeds}
    keys = list(rows[seeds[0]][0])
    print("| seed | " + " | ".join(f"{k}: ganlab / article's code" for k in keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    for s in seeds:
        g, r = rows[s]
        print(f"| {s} | " + " | ".join(f"{g[k]:.3f} / {r[k]:.3f}" for k in keys) + " |")
    print()
    n = len(seeds)
    for k in keys:
        diffs = [rows[s][0][k] - rows[s][1][k] for s in seeds]
        mean = sum(diffs) / n
        above = sum(x > 0 for x in diffs)
        if n > 1:
            sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1))
            half = (T95[n - 2] if n - 1 <= len(T95) else 1.96) * sd / math.sqrt(n)
            ci = f"[{mean - half:+.3f}, {mean + half:+.3f}]"
        else:
            ci = "(one pair: no interval)"
        print(f"{k}: ganlab minus the article's code {mean:+.3f} {ci}, ganlab above in {above} of {n}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "reports/reproduction/same_cpu/tanh_cnn_sgd")
