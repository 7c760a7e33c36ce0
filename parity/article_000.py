"""Step parity, article 000 (Keras vanilla GAN, LiMeng 2021): the article's own
build_generator(), build_discriminator(), build_GAN() and train_GAN loop body
(`parity/keras_articles.py`, on tf_keras), run on ganlab's initial weights, real
batches and noise.

    python parity/article_000.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`. Changes to the article's
code, and why: `keras_articles.CHANGES["all"]` and `["000"]`, printed with
`--changes`. In short: tf_keras imports and legacy optimisers; the loop body's
np.random draws come from ganlab's recorded noise and real batches (the article
reuses the same noise for the D and G steps: so does the recording, one draw per
iteration); Dropout(0.3) takes its rate from the fixture (0 in parity runs, on
both sides: masks cannot match across frameworks); the epoch loop and
draw_images() are not part of a step.
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
    print("\n".join(ka.CHANGES["all"] + ka.CHANGES["000"]))
    sys.exit(0)

fixture, cfg = kf.config()
DENSE_G = ["g.hidden0", "g.hidden1", "g.hidden2", "g.out"]
DENSE_D = ["d.hidden0", "d.hidden1", "d.hidden2", "d.out"]
kf.run(
    "000",
    fixture,
    lambda: ka.article_000(dropout=cfg["dropout"]),
    lambda m, src: ka.step_000(m, src, batch_size=cfg["batch_size"]),
    lambda m: kf.name_layers(m["generator"], {"Dense": DENSE_G}) + kf.name_layers(m["discriminator"], {"Dense": DENSE_D}),
)
