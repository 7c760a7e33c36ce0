"""TensorFlow peer of ganlab's four Keras specs: each article's own Keras code (on
tf_keras, the Keras 2 API, see `parity/keras_articles.py` for the few changes it
needs), one training iteration exactly as the article batches it (D step + G step
through `train_on_batch`), timed like `ganlab bench` (median after warm-up).
Prints one JSON object per spec with the keys of `benches/peers/torch_mlp.py`.

    python benches/peers/tf_keras.py --threads 2 --iters 5 --warmup 1

Threads: intra-op = --threads, inter-op = 1 (one op at a time, as ganlab runs).
The real batch is random data of the data's range (timing does not need MNIST).
"""
import argparse, json, os, statistics, sys, time

# This file's own name shadows the tf_keras package: take its folder off the path.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
sys.path.insert(0, os.path.join(HERE, "..", "..", "parity"))
sys.path.insert(0, os.path.join(HERE, ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from cpuinfo import result_row, timed

# GFLOP per iteration as ganlab counts it (`ganlab bench` prints the same figures).
GFLOP = {"vanilla_mlp_keras": 4.09, "tanh_cnn_sgd": 99.63, "dcgan": 129.57, "acgan": 1177.32}


def peak_gflops(n=2048):
    a = tf.ones((n, n))
    tf.linalg.matmul(a, a).numpy()
    ts = []
    for _ in range(5):
        s = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        ts.append(time.perf_counter() - s)
    return 2 * n ** 3 / statistics.median(ts) / 1e9


def result(name, ts, peak, gflop, threads):
    return result_row(name, f"tensorflow {tf.__version__} (tf_keras)", threads, ts, peak, gflop)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--specs", default="vanilla_mlp_keras,tanh_cnn_sgd,dcgan,acgan",
                    help="comma-separated spec names")
    a = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras_articles as ka  # after the thread settings: they must precede any op

    tf.random.set_seed(0)
    peak = peak_gflops()
    for name in a.specs.split(","):
        if name not in ka.ARTICLES:
            sys.exit(f"unknown spec {name!r} (have {', '.join(ka.ARTICLES)})")
        build, step = ka.ARTICLES[name]
        models, src = build(), ka.Source(0)
        ts = timed(lambda: step(models, src), a.iters, a.warmup)
        print(json.dumps(result(name, ts, peak, GFLOP[name], a.threads)), flush=True)


if __name__ == "__main__":
    main()
