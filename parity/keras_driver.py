"""What the four Keras step-parity drivers (`article_000.py`, `_001`, `_003`,
`_004`) share: TensorFlow's own float32 kernels on 2 intra-op threads, `--changes`,
and the fixture protocol of `keras_fixture.py`. Import it before anything that
imports TensorFlow.
"""
import os
import sys

# oneDNN's fused graph kernels are TensorFlow's default on x86 but not float32-exact:
# with them, article 000's first D update deviates from a float64 reference by up to
# 5.5e-5 (28% of the learning rate) on near-zero gradients; without them by 4e-8,
# ganlab by as little. Parity compares the mathematics, so it runs TensorFlow's own
# kernels (the speed peer keeps oneDNN on). GANLAB_PARITY_ONEDNN=1 turns oneDNN on, to
# see how far its rounding takes the article's step from ganlab's (the record's
# reference runs use TensorFlow's default); TF_ENABLE_ONEDNN_OPTS itself is ignored.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("GANLAB_PARITY_ONEDNN", "0")

import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras_articles as ka  # noqa: E402,F401  (the drivers take the articles from here)
import keras_fixture as kf  # noqa: E402,F401


def main(article, build, step, pairs_of):
    """Drive one article: with `--changes`, print the listed changes to its code;
    else `build(cfg)` its models, `step(models, source, cfg)` one iteration and
    `pairs_of(models)` the (ganlab name, layer) pairs, for `keras_fixture.run`."""
    if sys.argv[1:] == ["--changes"]:
        print("\n".join(ka.CHANGES["all"] + ka.CHANGES[article]))
        sys.exit(0)
    fixture, cfg = kf.config()
    kf.run(article, fixture, lambda: build(cfg), lambda m, src: step(m, src, cfg), pairs_of)
