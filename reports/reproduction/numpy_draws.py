"""000 with the article's own random draws: does the source of the noise and of the
real batches move the final FID?

Three groups of 000 runs at the record's budget (100 "epochs", final FID on 10,000
samples, the last `final` row of each run's eval.parquet):
- ganlab: its own draws (ChaCha8 streams): the record's ganlab runs;
- ganlab on numpy's draws: numpy_draws/vanilla_mlp_keras/numpy/, binary of the branch
  `experiments/numpy-draws` with GANLAB_NUMPY_DRAWS=1: the noise and real indices of
  numpy's legacy global RandomState seeded with the run's seed, in the article's order,
  so that seed S trains on exactly the noise and real batches of the article's code with
  seed S (its init and Dropout masks stay ganlab's: ChaCha8);
- the article's code: the record's reference runs.

    .venv-peers/bin/python reports/reproduction/numpy_draws.py

Prints each group's seeds and final FID, mean and standard deviation, the differences of
means with a Welch 95 % interval, and, seed by seed, ganlab on numpy's draws minus the
article's code (the pairs share their noise and real batches).
"""

import math
import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from paired import T95, runs  # noqa: E402  (the record's run finder and t quantiles)

SPEC = "vanilla_mlp_keras"


def t95(df):
    k = max(1, int(round(df)))
    return T95[k - 1] if k <= len(T95) else 1.960


def final_fid(run):
    e = pl.read_parquet(run / "eval.parquet").filter((pl.col("checkpoint") == "final") & (pl.col("n") == 10_000))
    return float(e["fid"][-1]) if e.height else None


def group(folder, engine):
    """{seed: final FID} of the completed runs in `folder` of one engine ("ganlab" or
    "reference")."""
    if not folder.is_dir():
        return {}
    fids = {int(s): final_fid(d) for (s, e), d in runs(folder).items() if e == engine}
    return {s: f for s, f in fids.items() if f is not None}


def stats(v):
    n = len(v)
    m = sum(v) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else float("nan")
    return n, m, sd


def welch(a, b):
    (na, ma, sa), (nb, mb, sb) = stats(a), stats(b)
    va, vb = sa * sa / na, sb * sb / nb
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    h = t95(df) * math.sqrt(va + vb)
    return ma - mb, ma - mb - h, ma - mb + h


def main():
    chacha = group(HERE / "runs" / SPEC, "ganlab")
    numpy = group(HERE / "numpy_draws" / SPEC / "numpy", "ganlab")
    article = group(HERE / "runs" / SPEC, "reference")
    groups = [("ganlab, its own draws", chacha), ("ganlab, numpy's draws", numpy), ("article's code", article)]
    seeds = sorted(set().union(*(g.keys() for _, g in groups)))
    print("| seed | " + " | ".join(name for name, _ in groups) + " |")
    print("| --- |" + " --- |" * len(groups))
    for s in seeds:
        print(f"| {s} | " + " | ".join(f"{g[s]:.2f}" if s in g else "" for _, g in groups) + " |")
    for name, g in groups:
        n, m, sd = stats(list(g.values()))
        print(f"{name}: mean {m:.2f}, sd {sd:.2f}, n = {n}")
    for (an, a), (bn, b) in [(groups[0], groups[1]), (groups[1], groups[2]), (groups[0], groups[2])]:
        d, lo, hi = welch(list(a.values()), list(b.values()))
        print(f"{an} minus {bn}: {d:+.2f} [{lo:+.2f}, {hi:+.2f}] (Welch)")
    both = sorted(set(numpy) & set(article))
    diffs = [numpy[s] - article[s] for s in both]
    if len(diffs) > 1:
        n, m, sd = stats(diffs)
        h = t95(n - 1) * sd / math.sqrt(n)
        above = sum(d > 0 for d in diffs)
        print(f"seed by seed, the same noise and real batches, ganlab on numpy's draws minus the article's code: "
              f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}] over {n} seeds, ganlab above in {above}")


if __name__ == "__main__":
    main()
