"""The step-parity protocol for the Keras articles (see `src/parity.rs`): load
ganlab's initial weights into the article's models, hand the article's loop body
the real batches, noise and sampled labels ganlab drew, and write the losses and
every weight after each iteration under ganlab's names.

Layouts: Dense kernels are `[in, out]` on both sides; ganlab's Conv2D kernels are
`[out, in, kh, kw]` and Keras's `[kh, kw, in, out]`; ganlab's Conv2DTranspose
kernels are `[in, out, kh, kw]` and Keras's `[kh, kw, out, in]`: both map with the
same axis permutation. The element orders of Flatten and Reshape are Keras's on both
sides (ganlab's `flatten_hwc` / `reshape_hwc_to_nchw`), so Dense kernels copy as
they are. BatchNormalization's moving statistics are weights on both sides.
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

TO_KERAS = (2, 3, 1, 0)
FROM_KERAS = (3, 2, 0, 1)
SUFFIXES = {
    "Dense": ["weight", "bias"],
    "Conv2D": ["weight", "bias"],
    "Conv2DTranspose": ["weight", "bias"],
    "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
    "Embedding": ["embeddings"],
}
CONV = {"Conv2D", "Conv2DTranspose"}


def weighted_layers(model):
    """The model's layers that hold weights, nested models walked, in order."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            out += weighted_layers(layer)
        elif type(layer).__name__ in SUFFIXES:
            out.append(layer)
    return out


def name_layers(model, names):
    """Pair the model's weighted layers with ganlab names: `names` maps a layer type
    to the ganlab names of that type's layers, in order."""
    by_type = {}
    for layer in weighted_layers(model):
        by_type.setdefault(type(layer).__name__, []).append(layer)
    pairs = []
    for kind, ganlab_names in names.items():
        got = by_type.get(kind, [])
        if len(got) != len(ganlab_names):
            raise SystemExit(f"{model.name}: {len(got)} {kind} layers, expected {len(ganlab_names)}")
        pairs += list(zip(ganlab_names, got))
    return pairs


def load_into(pairs, init):
    for name, layer in pairs:
        kind = type(layer).__name__
        ws = []
        for suffix, current in zip(SUFFIXES[kind], layer.get_weights()):
            w = init[f"{name}.{suffix}"]
            if kind in CONV and suffix == "weight":
                w = w.transpose(TO_KERAS)
            if w.shape != current.shape:
                raise SystemExit(f"{name}.{suffix}: ganlab {w.shape}, Keras {current.shape}")
            ws.append(np.ascontiguousarray(w))
        layer.set_weights(ws)


def dump(pairs, out, k):
    for name, layer in pairs:
        kind = type(layer).__name__
        for suffix, w in zip(SUFFIXES[kind], layer.get_weights()):
            if kind in CONV and suffix == "weight":
                w = w.transpose(FROM_KERAS)
            out[f"weight_{k}.{name}.{suffix}"] = np.ascontiguousarray(w, dtype=np.float32)


class Recorded:
    """A `keras_articles.Source` that returns ganlab's draws, in ganlab's order."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.counts = {"noise": 0, "sampled": 0, "real": 0}

    def _next(self, kind):
        key = f"{kind}_{self.counts[kind]}"
        if key not in self.inputs:
            raise SystemExit(f"the article's loop asked for {key}, which ganlab did not draw")
        self.counts[kind] += 1
        return self.inputs[key]

    def _noise(self, shape):
        z = self._next("noise")
        if z.size != int(np.prod(shape)):
            raise SystemExit(f"noise of shape {shape} asked for, ganlab drew {z.shape}")
        return z.reshape(shape)

    normal = _noise
    uniform = _noise

    def labels(self, n):
        lab = self._next("sampled")
        assert lab.shape == (n,), (lab.shape, n)
        return lab.astype(np.int64)

    def real(self, n, lo, hi, shape):
        k = self.counts["real"]
        x = self._next("real")
        assert x.shape[0] == n, (x.shape, n)
        return x.reshape((n,) + shape), self.inputs[f"labels_{k}"].astype(np.int64)


def scalar(v):
    """A Keras train_on_batch result's loss: the first entry of a list, or the value."""
    if isinstance(v, (list, tuple)):
        v = v[0]
    return np.array([v], dtype=np.float32)


def config():
    """FIXTURE_DIR (the one argument) and ganlab's `fixture.json`: the spec's name,
    dropout rate and batch size (parity runs use dropout 0 on both sides)."""
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: python {sys.argv[0]} FIXTURE_DIR")
    with open(os.path.join(sys.argv[1], "fixture.json")) as f:
        return sys.argv[1], json.load(f)


def run(article, fixture, build, step, pairs_of):
    """Drive one article: `build()` its models, `pairs_of(models)` the (ganlab name,
    layer) pairs, `step(models, source)` one iteration returning (d_out, g_out)."""
    init = load_file(os.path.join(fixture, "init.safetensors"))
    inputs = load_file(os.path.join(fixture, "inputs.safetensors"))
    k_iters = sum(1 for k in inputs if k.startswith("real_"))
    models = build()
    pairs = pairs_of(models)
    names = {f"{n}.{s}" for n, layer in pairs for s in SUFFIXES[type(layer).__name__]}
    if names != set(init):
        raise SystemExit(f"weights differ: only ganlab {sorted(set(init) - names)}, only Keras {sorted(names - set(init))}")
    load_into(pairs, init)
    src = Recorded(inputs)
    out = {}
    for k in range(k_iters):
        d_out, g_out = step(models, src)
        out[f"d_loss_{k}"] = scalar(d_out)
        out[f"g_loss_{k}"] = scalar(g_out)
        dump(pairs, out, k)
    left = {kind: sum(1 for key in inputs if key.startswith(kind + "_")) - n for kind, n in src.counts.items()}
    if any(left.values()):
        # A warning, not an error: the mutation checks make ganlab draw differently.
        print(f"warning: ganlab drew inputs the article's loop did not use: {left}", file=sys.stderr)
    save_file(out, os.path.join(fixture, "article_out.safetensors"))
    print(f"article {article}: {k_iters} iterations written to {fixture}/article_out.safetensors")
