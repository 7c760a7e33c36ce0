"""Is 000's FID gap in the generators or in the sampling and scoring? One ganlab
generator, sampled both ways: by ganlab (`ganlab eval RUN --seed S`: its noise
stream, its forward pass, `Scale::to_u8`) and the way a reference run samples the
article's generator (`parity/reference.py`: the article's Keras `build_generator()`
holding ganlab's trained weights, numpy's N(0, 1) noise, `generator.predict`, the
same grey-level rounding, an IDX file, `ganlab eval --images`). Same weights, so
any difference beyond the samples' own noise would be the pipeline's.

    .venv-peers/bin/python reports/reproduction/swap_sampling.py RUN [SEEDS]

RUN is a ganlab run of vanilla_mlp_keras that still has `checkpoints/g_final.safetensors`
(the record's runs were trimmed: train one again, e.g. `ganlab run
reports/reproduction/runs/vanilla_mlp_keras/<run>/config.yaml --set eval.every_epochs=1000
--set samples.every=1000 --threads 2 --out DIR`, which repeats that run bit for bit with
its binary). SEEDS (default "0 1 2 3"): the noise seeds of each side's 10,000 samples.
GANLAB_BIN (default target/release/ganlab) scores; GANLAB_DATA must point at MNIST.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "parity"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

import keras_articles as ka  # noqa: E402
import keras_fixture as kf  # noqa: E402
import reference as ref  # noqa: E402

N = 10_000
BIN = os.environ.get("GANLAB_BIN", "target/release/ganlab")


def score(args):
    out = subprocess.run([BIN, "eval", *args, "--threads", "2", "--json"], check=True, capture_output=True, text=True)
    d = json.loads(out.stdout)
    return d["fid"], d["inception_score"], d["precision"], d["recall"]


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    run = sys.argv[1]
    seeds = [int(s) for s in (sys.argv[2].split() if len(sys.argv) > 2 else "0 1 2 3".split())]
    g_path = os.path.join(run, "checkpoints", "g_final.safetensors")
    if not os.path.isfile(g_path):
        raise SystemExit(f"{g_path} is missing: RUN must be an untrimmed ganlab run of vanilla_mlp_keras")
    g = ka.build_generator_000()
    names = ["g.hidden0", "g.hidden1", "g.hidden2", "g.out"]
    kf.load_into(kf.name_layers(g, {"Dense": names}), load_file(g_path))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            rows.append(("ganlab", s) + score([run, "--seed", str(s), "--n", str(N)]))
            z = np.random.RandomState(s).normal(0, 1, (N, 100)).astype(np.float32)
            path = os.path.join(tmp, f"keras_{s}.idx")
            ref.write_idx(path, ref.to_u8(g.predict(z, verbose=0, batch_size=500), False))
            rows.append(("article's Keras generator", s) + score(["--images", path]))
    print("| sampled by | noise seed | FID | IS | precision | recall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.3f} | {r[5]:.3f} |")
    for who in ("ganlab", "article's Keras generator"):
        f = np.array([r[2] for r in rows if r[0] == who])
        print(f"{who}: FID mean {f.mean():.2f}, sd {f.std(ddof=1):.2f} over {len(f)} noise seeds")


if __name__ == "__main__":
    main()
