"""Which cross-entropy the articles' own tf_keras code computes once D saturates.

D's output layer is set to weight 0 and bias -60, so that every probability is about
1e-26. For label 1 the logits form of the binary cross-entropy gives 60, the clipped
form (Keras 2.0's, epsilon 1e-7) -log(1e-7) = 16.1. Checked for D's own step and for
the combined model's (G's) step of 000 and 004, both tf.keras-2 era, whose ganlab
specs say `loss.bce: logits`.

    .venv-peers/bin/python reports/reproduction/saturated_bce.py
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "parity"))
import numpy as np  # noqa: E402

import keras_articles as ka  # noqa: E402

NETS = {"000": ("discriminator", "GAN", "generator"), "004": ("d_model", "gan_model", "g_model")}
MAKE = {"000": ka.article_000, "004": ka.article_004}

for name, (d_key, gan_key, g_key) in NETS.items():
    m = MAKE[name]()
    d, gan, g = m[d_key], m[gan_key], m[g_key]
    out = [layer for layer in d.layers if layer.get_weights()][-1]
    kernel, bias = out.get_weights()
    out.set_weights([kernel * 0, bias * 0 - 60.0])
    z = np.random.normal(0, 1, (8, 100)).astype(np.float32)
    x = g.predict(z, verbose=0)
    d_loss = np.ravel(d.test_on_batch(x, np.ones((8, 1))))[0]
    g_loss = np.ravel(gan.test_on_batch(z, np.ones((8, 1))))[0]
    print(f"{name}: D's probability {float(d.predict(x, verbose=0).mean()):.1e}; "
          f"loss for label 1: D's step {d_loss:.1f}, the combined model's {g_loss:.1f} "
          f"(logits form 60.0, clipped 16.1)")
