"""Step parity, article 003 (Keras mnist_acgan.py): the article's own
build_generator(), build_discriminator(), compile calls and batch-loop body
(`parity/keras_articles.py`, on tf_keras, channels_first as written), run on
ganlab's initial weights, real batches and labels, noise and sampled labels.

    python parity/article_003.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`; the start every Keras
driver shares (TensorFlow's own kernels, 2 threads, `--changes`): `parity/keras_driver.py`. The losses compared are
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
from keras_driver import ka, kf, main

main(
    "003",
    lambda cfg: ka.article_003(dropout=cfg["dropout"], nhwc=True),
    lambda m, src, cfg: ka.step_003(m, src, batch_size=cfg["batch_size"]),
    lambda m: kf.name_layers(m["generator"], {"Embedding": ["g.embedding"], "Dense": ["g.dense1", "g.dense2"],
                                              "Conv2D": ["g.conv1", "g.conv2", "g.conv3"]})
    + kf.name_layers(m["discriminator"], {"Conv2D": ["d.conv1", "d.conv2", "d.conv3", "d.conv4"],
                                          "Dense": ["d.generation", "d.auxiliary"]}),
)
