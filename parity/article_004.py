"""Step parity, article 004 (DCGAN with Conv2DTranspose, after Brownlee): the
article's own define_generator(), define_discriminator(), define_gan() and train()
loop body (`parity/keras_articles.py`, on tf_keras), run on ganlab's initial
weights, real batches and noise.

    python parity/article_004.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`. Changes to the article's
code, and why: `keras_articles.CHANGES["all"]` and `["004"]` (printed with
`--changes`). In short: tf_keras imports and legacy Adam; binary cross-entropy is
tf_keras's own (from the sigmoid's logits, as the article's TensorFlow 2 ran it);
randint/randn in
generate_real_samples/generate_latent_points return ganlab's recorded draws;
Dropout(0.4) takes its rate from the fixture (0 in parity runs, on both sides).
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
    print("\n".join(ka.CHANGES["all"] + ka.CHANGES["004"]))
    sys.exit(0)

fixture, cfg = kf.config()
kf.run(
    "004",
    fixture,
    lambda: ka.article_004(dropout=cfg["dropout"]),
    lambda m, src: ka.step_004(m, src, n_batch=cfg["batch_size"]),
    lambda m: kf.name_layers(m["g_model"], {"Dense": ["g.dense"], "Conv2DTranspose": ["g.up1", "g.up2"],
                                            "Conv2D": ["g.out"]})
    + kf.name_layers(m["d_model"], {"Conv2D": ["d.conv1", "d.conv2"], "Dense": ["d.out"]}),
)
