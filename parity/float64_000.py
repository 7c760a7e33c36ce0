"""Article 000's step in float64 with numpy: a third opinion for step parity.

    python parity/float64_000.py FIXTURE_DIR

Reads the fixture that `ganlab parity experiments/vanilla_mlp_keras.yaml --set
model.dropout=0 --dir FIXTURE_DIR` writes (init.safetensors, inputs.safetensors,
fixture.json) and runs the article's iterations on it, as `train_GAN` does (D on
[fakes, reals] labelled 0 and 1, then G through the frozen D on the same noise,
labelled 1; binary cross-entropy from the logits; tf.keras's Adam(0.0002, 0.5), eps
1e-7), in float64, with exact tanh. Writes float64_out.safetensors in the drivers'
form (`weight_K.NAME`, `d_loss_K`, `g_loss_K`). When ganlab and the article's
TensorFlow disagree, this says which of them is off (tests/parity.rs).
Dropout must be 0 (the masks are the frameworks' own).
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

d = sys.argv[1].rstrip("/") + "/"
fixture = json.load(open(d + "fixture.json"))
assert fixture["dropout"] == 0.0, "float64_000.py: the fixture must have dropout 0"
w = {k: v.astype(np.float64) for k, v in load_file(d + "init.safetensors").items()}
inputs = load_file(d + "inputs.safetensors")
iters = len([k for k in inputs if k.startswith("noise_")])
SLOPE, LR, B1, B2, EPS = 0.2, 2e-4, 0.5, 0.999, 1e-7


def lrelu(x):
    return np.where(x > 0, x, SLOPE * x)


def dlrelu(x):
    return np.where(x > 0, 1.0, SLOPE)


def stack(prefix, x, w):
    """Dense layers `prefix.hidden0..2` with LeakyReLU(0.2), then `prefix.out`: the
    inputs and pre-activations of each, and the last pre-activation."""
    acts, pre = [x], []
    for i in range(3):
        p = x @ w[f"{prefix}.hidden{i}.weight"] + w[f"{prefix}.hidden{i}.bias"]
        pre.append(p)
        x = lrelu(p)
        acts.append(x)
    return acts, pre, x @ w[f"{prefix}.out.weight"] + w[f"{prefix}.out.bias"]


def back(prefix, w, acts, pre, dout, grads):
    """Gradients of the stack's weights from the gradient at its last pre-activation;
    returns the gradient at its input."""
    grads[f"{prefix}.out.weight"] = acts[3].T @ dout
    grads[f"{prefix}.out.bias"] = dout.sum(0)
    dh = dout @ w[f"{prefix}.out.weight"].T
    for i in (2, 1, 0):
        dp = dh * dlrelu(pre[i])
        grads[f"{prefix}.hidden{i}.weight"] = acts[i].T @ dp
        grads[f"{prefix}.hidden{i}.bias"] = dp.sum(0)
        dh = dp @ w[f"{prefix}.hidden{i}.weight"].T
    return dh


def bce_logits(logit, y):
    """Mean binary cross-entropy from the logits, and its gradient at them."""
    loss = np.maximum(logit, 0) - logit * y + np.log1p(np.exp(-np.abs(logit)))
    return loss.mean(), (1 / (1 + np.exp(-logit)) - y) / len(y)


def adam(w, grads, state, t):
    """tf.keras's Adam: alpha = lr sqrt(1 - b2^t) / (1 - b1^t), p -= alpha m / (sqrt(v) + eps)."""
    alpha = LR * np.sqrt(1 - B2**t) / (1 - B1**t)
    for k, g in grads.items():
        m, v = state.get(k, (0.0, 0.0))
        m, v = B1 * m + (1 - B1) * g, B2 * v + (1 - B2) * g * g
        state[k] = (m, v)
        w[k] = w[k] - alpha * m / (np.sqrt(v) + EPS)


out, d_state, g_state = {}, {}, {}
for it in range(iters):
    z = inputs[f"noise_{it}"].astype(np.float64)
    real = inputs[f"real_{it}"].astype(np.float64)
    n = len(z)
    # D on [fakes, reals], labels 0 then 1.
    _, _, g_pre = stack("g", z, w)
    x = np.concatenate([np.tanh(g_pre), real])
    y = np.concatenate([np.zeros(n), np.ones(n)])[:, None]
    acts, pre, logit = stack("d", x, w)
    d_loss, dl = bce_logits(logit, y)
    grads = {}
    back("d", w, acts, pre, dl, grads)
    adam(w, grads, d_state, it + 1)
    # G through the frozen (updated) D on the same noise, labelled 1.
    g_acts, g_pre_all, g_pre = stack("g", z, w)
    fake = np.tanh(g_pre)
    acts, pre, logit = stack("d", fake, w)
    g_loss, dl = bce_logits(logit, np.ones((n, 1)))
    dx = back("d", w, acts, pre, dl, {})
    grads = {}
    back("g", w, g_acts, g_pre_all, dx * (1 - fake * fake), grads)
    adam(w, grads, g_state, it + 1)
    out[f"d_loss_{it}"] = np.array([d_loss], dtype=np.float32)
    out[f"g_loss_{it}"] = np.array([g_loss], dtype=np.float32)
    out.update({f"weight_{it}.{k}": v.astype(np.float32) for k, v in w.items()})
save_file(out, d + "float64_out.safetensors")
