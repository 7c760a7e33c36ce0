"""000's initial weights, ganlab's against the article's own: step parity starts both
sides from ganlab's weights, so it never compares the initialisers. This does, per
tensor, by their distributions: ganlab's draw (a parity fixture's `init.safetensors`)
beside tf_keras's glorot_uniform / zeros for the article's models, and the glorot
bound and standard deviation they should both follow.

    ganlab parity experiments/vanilla_mlp_keras.yaml --set model.dropout=0 --set seed=S --iters 1 --dir DIR
    .venv-peers/bin/python reports/reproduction/init_000.py DIR S [DIR S ...]

S (the seed the fixture was made with) also seeds TensorFlow and numpy for the
article's draw. Columns: the standard deviations, the largest magnitudes, and the largest
difference between the two draws' quantiles (1, 10, 25, 50, 75, 90, 99 %) as a share
of the glorot bound (sampling noise alone: about 0.01 on the large layers, 0.15 on
D's 256-weight output layer).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "parity"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

import keras_articles as ka  # noqa: E402
import keras_fixture as kf  # noqa: E402

G = ["g.hidden0", "g.hidden1", "g.hidden2", "g.out"]
D = ["d.hidden0", "d.hidden1", "d.hidden2", "d.out"]
Q = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        raise SystemExit(__doc__)
    print("| seed | tensor | shape | std ganlab | std article | glorot std | max ganlab | max article | glorot bound | quantiles apart |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fixture, seed in zip(args[::2], map(int, args[1::2])):
        ours = load_file(os.path.join(fixture, "init.safetensors"))
        tf.random.set_seed(seed)
        np.random.seed(seed)
        m = ka.article_000(dropout=0.3)
        pairs = kf.name_layers(m["generator"], {"Dense": G}) + kf.name_layers(m["discriminator"], {"Dense": D})
        theirs = {}
        kf.dump(pairs, theirs, 0)
        for key in sorted(theirs):
            name = key[len("weight_0."):]
            a, b = ours[name], theirs[key]
            if a.shape != b.shape:
                raise SystemExit(f"{name}: ganlab {a.shape}, article {b.shape}")
            if name.endswith(".bias"):
                if np.any(a) or np.any(b):
                    print(f"| {seed} | {name} | {a.shape} | nonzero biases: ganlab {np.abs(a).max():.3g}, article {np.abs(b).max():.3g} |")
                continue
            bound = np.sqrt(6 / (a.shape[0] + a.shape[1]))
            apart = np.abs(np.quantile(a, Q) - np.quantile(b, Q)).max() / bound
            print(f"| {seed} | {name} | {a.shape} | {a.std():.5f} | {b.std():.5f} | {bound / np.sqrt(3):.5f} | "
                  f"{np.abs(a).max():.5f} | {np.abs(b).max():.5f} | {bound:.5f} | {apart:.4f} |")
        print(f"| {seed} | every bias | | zeros on both sides |" if all(
            not np.any(ours[k[len('weight_0.'):]]) and not np.any(theirs[k]) for k in theirs if k.endswith(".bias")) else "")


if __name__ == "__main__":
    main()
