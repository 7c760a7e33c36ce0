"""How much ink each engine's final samples carry, beside MNIST's test images.

A lead for the FID gaps of the record (ganlab's FID above the article's code's in
000, 001 and 004): per completed run, over its 10,000 final samples
(`samples/final.idx.gz`), the mean grey level, the share of pixels above half
intensity ("ink") and of pixels between 10 % and 90 % (soft edges).

    python3 reports/reproduction/ink.py [SPEC ...]   # default: the Keras articles
"""
import glob
import gzip
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def idx(path):
    b = gzip.open(path).read()
    n = int.from_bytes(b[4:8], "big")
    return np.frombuffer(b[16:], np.uint8).reshape(n, 784).astype(np.float32) / 255.0


def row(name, x):
    return f"| {name} | {x.mean():.4f} | {(x > 0.5).mean():.4f} | {((x > 0.1) & (x < 0.9)).mean():.4f} |"


def main():
    specs = sys.argv[1:] or ["vanilla_mlp_keras", "tanh_cnn_sgd", "dcgan", "acgan"]
    data = os.environ.get("GANLAB_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"))
    print("| run | mean grey | ink (> 0.5) | soft (0.1-0.9) |")
    print("| --- | --- | --- | --- |")
    print(row("MNIST test images", idx(os.path.join(data, "t10k-images-idx3-ubyte.gz"))))
    for spec in specs:
        for d in sorted(glob.glob(os.path.join(HERE, "runs", spec, "*", ""))):
            m = json.load(open(os.path.join(d, "manifest.json")))
            final = os.path.join(d, "samples", "final.idx.gz")
            if m["status"] != "completed" or not os.path.exists(final):
                continue
            engine = "article's code" if m.get("engine") else "ganlab"
            print(row(f"{spec} seed {m['seed']}, {engine}", idx(final)))


if __name__ == "__main__":
    main()
