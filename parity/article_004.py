"""Step parity, article 004 (DCGAN with Conv2DTranspose, after Brownlee): the
article's own define_generator(), define_discriminator(), define_gan() and train()
loop body (`parity/keras_articles.py`, on tf_keras), run on ganlab's initial
weights, real batches and noise.

    python parity/article_004.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`; the start every Keras
driver shares (TensorFlow's own kernels, 2 threads, `--changes`): `parity/keras_driver.py`. Changes to the article's
code, and why: `keras_articles.CHANGES["all"]` and `["004"]` (printed with
`--changes`). In short: tf_keras imports and legacy Adam; binary cross-entropy is
tf_keras's own (from the sigmoid's logits, as the article's TensorFlow 2 ran it);
randint/randn in
generate_real_samples/generate_latent_points return ganlab's recorded draws;
Dropout(0.4) takes its rate from the fixture (0 in parity runs, on both sides).
"""
from keras_driver import ka, kf, main

main(
    "004",
    lambda cfg: ka.article_004(dropout=cfg["dropout"]),
    lambda m, src, cfg: ka.step_004(m, src, n_batch=cfg["batch_size"]),
    lambda m: kf.name_layers(m["g_model"], {"Dense": ["g.dense"], "Conv2DTranspose": ["g.up1", "g.up2"],
                                            "Conv2D": ["g.out"]})
    + kf.name_layers(m["d_model"], {"Conv2D": ["d.conv1", "d.conv2"], "Dense": ["d.out"]}),
)
