"""Step parity, article 001 (the keras-dcgan notebook): the article's own
generator_model(), discriminator_model(), generator_containing_discriminator(),
compile calls and train(BATCH_SIZE) loop body (`parity/keras_articles.py`, on
tf_keras), run on ganlab's initial weights, real batches and noise.

    python parity/article_001.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`; the start every Keras
driver shares (TensorFlow's own kernels, 2 threads, `--changes`): `parity/keras_driver.py`; G's BatchNormalization
gamma, beta and moving statistics are compared like the other weights. Changes to
the article's code, and why: `keras_articles.CHANGES["all"]` and `["001"]`
(printed with `--changes`). In short: tf_keras imports and legacy SGD; the Keras 1
`output_dim=` renamed `units=`; binary cross-entropy in Keras 2.0's clipped form
(tf_keras would use the logits); the np.random draws and the in-order real batch
come from ganlab's recording; image and weight saving dropped. The article's
quirk is untouched: `g.predict` (BatchNorm with its moving averages) makes the D
step's fakes, `d_on_g.train_on_batch` trains G with batch statistics.
"""
from keras_driver import ka, kf, main

main(
    "001",
    lambda cfg: ka.article_001(),
    lambda m, src, cfg: ka.step_001(m, src, BATCH_SIZE=cfg["batch_size"]),
    lambda m: kf.name_layers(m["g"], {"Dense": ["g.dense1", "g.dense2"], "BatchNormalization": ["g.bn"],
                                      "Conv2D": ["g.conv1", "g.conv2"]})
    + kf.name_layers(m["d"], {"Conv2D": ["d.conv1", "d.conv2"], "Dense": ["d.dense", "d.out"]}),
)
