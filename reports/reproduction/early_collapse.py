"""Count 002's early collapses in the runs under a folder (early_collapse.sh): per
engine and seed, D's mean output on fakes over the first and second epoch, and a
collapse where the second is under 0.01. Needs polars (`pip install polars`)."""
import glob
import json
import sys

import polars as pl

res = {"ganlab": [], "article's code": []}
for d in sorted(glob.glob(f"{sys.argv[1]}/mlp_pytorch/*")):
    m = json.load(open(f"{d}/manifest.json"))
    if m["status"] != "completed":
        continue
    df = pl.read_parquet(f"{d}/metrics.parquet")
    e0 = df.filter(pl.col("step") <= 600)["d_fake"].mean()
    e1 = df.filter(pl.col("step") > 600)["d_fake"].mean()
    res["article's code" if m.get("engine") else "ganlab"].append((m["seed"], e0, e1))
print("| engine | seed | D on fakes, epoch 1 | epoch 2 | collapsed |")
print("| --- | --- | --- | --- | --- |")
for eng, rows in res.items():
    for s, e0, e1 in rows:
        print(f"| {eng} | {s} | {e0:.3f} | {e1:.4f} | {'yes' if e1 < 0.01 else 'no'} |")
for eng, rows in res.items():
    print(f"{eng}: {sum(r[2] < 0.01 for r in rows)} of {len(rows)} collapsed by the end of epoch 2")
