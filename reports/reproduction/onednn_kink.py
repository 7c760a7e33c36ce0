"""Why article 000's step with TensorFlow's oneDNN on differs from ganlab's (and from
oneDNN off) by far more than float rounding in `GANLAB_PARITY_ONEDNN=1 ganlab parity`:
the D step's gradients of the article's own Keras D, on the parity fixture's weights
and batches, against a float64 run of the same code, with oneDNN off and on; then the
pre-activations closest to LeakyReLU's kink.

    ganlab parity experiments/vanilla_mlp_keras.yaml --set model.dropout=0 --iters 1 --dir D
    .venv-peers/bin/python reports/reproduction/onednn_kink.py D

The fakes are the article's G (float32, oneDNN off) on the fixture's noise; D sees
[fakes, reals] with the labels [0, 1], as in the article's D step. TensorFlow reads
TF_ENABLE_ONEDNN_OPTS when it is imported, so each mode runs in its own process.
"""
import os
import subprocess
import sys

import numpy as np

DENSE_G = ["g.hidden0", "g.hidden1", "g.hidden2", "g.out"]
DENSE_D = ["d.hidden0", "d.hidden1", "d.hidden2", "d.out"]


def weights(fixture, names):
    from safetensors.numpy import load_file
    init = load_file(os.path.join(fixture, "init.safetensors"))
    return [t for n in names for t in (init[n + ".weight"], init[n + ".bias"])]  # Keras layout: [in, out]


def run_mode(mode, fixture):
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if mode == "on" else "0"
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "parity"))
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras
    if mode == "f64":
        tf_keras.backend.set_floatx("float64")
    import keras_articles as ka
    from safetensors.numpy import load_file
    inputs = load_file(os.path.join(fixture, "inputs.safetensors"))
    dt = tf_keras.backend.floatx()
    fakes_path = os.path.join(fixture, "kink_fakes.npy")
    if mode == "off":
        g = ka.build_generator_000()
        g.set_weights(weights(fixture, DENSE_G))
        np.save(fakes_path, g.predict(inputs["noise_0"], verbose=0))
    d = ka.build_discriminator_000(dropout=0.0)
    d.set_weights([w.astype(dt) for w in weights(fixture, DENSE_D)])
    x = np.concatenate([np.load(fakes_path), inputs["real_0"].reshape(-1, 784)]).astype(dt)
    n = x.shape[0] // 2
    y = np.concatenate([np.zeros(n), np.ones(n)])[:, None].astype(dt)

    @tf.function
    def grads(x, y):
        with tf.GradientTape() as tape:
            loss = d.compiled_loss(y, d(x, training=True))
        return tape.gradient(loss, d.trainable_variables)

    g = grads(tf.constant(x), tf.constant(y))
    np.savez(os.path.join(fixture, f"kink_{mode}.npz"), x=x.astype(np.float64),
             *[t.numpy().astype(np.float64) for t in g])


def main(fixture):
    for mode in ["off", "on", "f64"]:
        subprocess.run([sys.executable, __file__, "--mode", mode, fixture], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref = np.load(os.path.join(fixture, "kink_f64.npz"))
    names = [f"{n}.{p}" for n in DENSE_D for p in ("weight", "bias")]
    print("D step's gradients, largest error / largest gradient, against float64:")
    print("| tensor | oneDNN off | oneDNN on |")
    print("| --- | --- | --- |")
    runs = {m: np.load(os.path.join(fixture, f"kink_{m}.npz")) for m in ["off", "on"]}
    for i, name in enumerate(names):
        k = f"arr_{i}"
        scale = np.abs(ref[k]).max()
        errs = [np.abs(runs[m][k] - ref[k]).max() / scale for m in ["off", "on"]]
        print(f"| {name} | {errs[0]:.1e} | {errs[1]:.1e} |")
    # The pre-activations (float64) closest to LeakyReLU's kink, per hidden layer.
    w = [t.astype(np.float64) for t in weights(fixture, DENSE_D)]
    h = ref["x"]
    print("Pre-activations closest to 0 (float64), per hidden layer of D:")
    for layer in range(3):
        a = h @ w[2 * layer] + w[2 * layer + 1]
        s, u = np.unravel_index(np.argmin(np.abs(a)), a.shape)
        print(f"  d.hidden{layer}: {a[s, u]:.2e} (sample {s}, unit {u}); mean |a| {np.abs(a).mean():.2f}")
        h = np.where(a > 0, a, 0.2 * a)


if __name__ == "__main__":
    if sys.argv[1] == "--mode":
        run_mode(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1])
