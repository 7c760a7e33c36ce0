"""Step parity, article 000 (Keras vanilla GAN, LiMeng 2021): the article's own
build_generator(), build_discriminator(), build_GAN() and train_GAN loop body
(`parity/keras_articles.py`, on tf_keras), run on ganlab's initial weights, real
batches and noise.

    python parity/article_000.py FIXTURE_DIR

Protocol and weight layouts: `parity/keras_fixture.py`; the start every Keras
driver shares (TensorFlow's own kernels, 2 threads, `--changes`): `parity/keras_driver.py`. Changes to the article's
code, and why: `keras_articles.CHANGES["all"]` and `["000"]`, printed with
`--changes`. In short: tf_keras imports and legacy optimisers; the loop body's
np.random draws come from ganlab's recorded noise and real batches (the article
reuses the same noise for the D and G steps: so does the recording, one draw per
iteration); Dropout(0.3) takes its rate from the fixture (0 in parity runs, on
both sides: masks cannot match across frameworks); the epoch loop and
draw_images() are not part of a step.
"""
from keras_driver import ka, kf, main

DENSE_G = ["g.hidden0", "g.hidden1", "g.hidden2", "g.out"]
DENSE_D = ["d.hidden0", "d.hidden1", "d.hidden2", "d.out"]
main(
    "000",
    lambda cfg: ka.article_000(dropout=cfg["dropout"]),
    lambda m, src, cfg: ka.step_000(m, src, batch_size=cfg["batch_size"]),
    lambda m: kf.name_layers(m["generator"], {"Dense": DENSE_G}) + kf.name_layers(m["discriminator"], {"Dense": DENSE_D}),
)
