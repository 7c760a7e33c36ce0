"""Step parity, article 003 (Keras mnist_acgan.py): the article's own
build_generator(), build_discriminator(), compile calls and batch-loop body
(`parity/keras_articles.py`, on tf_keras, channels_first as written), run on
ganlab's initial weights, real batches and labels, noise and sampled labels.

    python parity/article_003.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`. The losses compared are
train_on_batch's totals (generation + auxiliary). Changes to the article's code,
and why: `keras_articles.CHANGES["all"]` and `["003"]` (printed with `--changes`).
In short: tf_keras imports and legacy Adam; D's Flatten flattens in (c, h, w)
order as Keras 2.0's did (tf_keras's, under channels_first, reorders to (h, w, c)); both cross-entropies in Keras 2.0's
clipped form (tf_keras would use the logits); Adam's epsilon 1e-8 and the unscaled
glorot_normal of Keras 2.0 (tf_keras's defaults are 1e-7 and the scaled one); the np.random draws (noise and
sampled labels) and the in-order real batch with its labels come from ganlab's
recording; Dropout(0.3) takes its rate from the fixture (0 in parity runs, on both
sides); the per-epoch evaluation and saving are not part of a step; and the
convolutions run channels_last between Permute layers (TensorFlow's own CPU
Conv2D has no NCHW kernel; the element order of every other tensor, Dense kernels
included, stays the article's channels_first one).
"""
import os
import sys

# oneDNN's fused graph kernels are TensorFlow's default on x86 but not float32-exact:
# with them, article 000's first D update deviates from a float64 reference by up to
# 5.5e-5 (28% of the learning rate) on near-zero gradients; without them by 4e-8,
# ganlab by as little. Parity compares the mathematics, so it runs TensorFlow's own
# kernels (the speed peer keeps oneDNN on).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras_articles as ka
import keras_fixture as kf

if sys.argv[1:] == ["--changes"]:
    print("\n".join(ka.CHANGES["all"] + ka.CHANGES["003"]))
    sys.exit(0)

fixture, cfg = kf.config()
kf.run(
    "003",
    fixture,
    lambda: ka.article_003(dropout=cfg["dropout"], nhwc=True),
    lambda m, src: ka.step_003(m, src, batch_size=cfg["batch_size"]),
    lambda m: kf.name_layers(m["generator"], {"Embedding": ["g.embedding"], "Dense": ["g.dense1", "g.dense2"],
                                              "Conv2D": ["g.conv1", "g.conv2", "g.conv3"]})
    + kf.name_layers(m["discriminator"], {"Conv2D": ["d.conv1", "d.conv2", "d.conv3", "d.conv4"],
                                          "Dense": ["d.generation", "d.auxiliary"]}),
)
