"""Reference runs: train an article's own code (the same code the step-parity
drivers run: `keras_articles.py` on tf_keras, `torch_article.py` on PyTorch) for a
ganlab spec's budget, with the framework's own random draws, and write what ganlab
needs to make a run directory of it (`ganlab reference`, `src/reference.rs`).

    python parity/reference.py CONFIG.json OUT_DIR

CONFIG.json (written by ganlab): article ("000".."004"), seed, epochs,
iters_per_epoch, batch_size, latent, dropout, data_dir (MNIST IDX files), threads,
grid_epochs + grid_n, eval_epochs + eval_n, final_n, test_size (ACGAN's per-epoch
table). OUT_DIR receives:

- `steps.csv`: one row per iteration (step, epoch, iter, d_loss, g_loss, d_real,
  d_fake, seconds, then the article's extras: d_acc for 004; the generation and
  auxiliary losses for 003), appended and flushed as training goes;
- `samples/grid_NNNN.idx`, `samples/eval_NNNN.idx`: generated images as IDX
  (unsigned bytes, [n, 28, 28]) after the epochs listed, each from one fixed noise
  batch (grid and eval noise drawn once, from their own numpy generator, so that
  they do not move the training draws); ACGAN draws digit k % 10 for image k;
- `final.idx`: `final_n` images of the last generator (fresh noise);
- `epochs.csv`: ACGAN's per-epoch train/test table (the article's evaluation);
- `info.json`: framework, versions and how each generator was seeded.

Seeding is the framework's own: `np.random.seed(seed)` for the articles' np.random
draws, `tf.random.set_seed(seed)` (Keras's initialisers and Dropout) or
`torch.manual_seed(seed)` (PyTorch's initialisers and the DataLoader's shuffling).
A reference run is reproducible in distribution, not bit for bit.

Changes to the articles' code for these runs (beyond the parity drivers' listed
ones, `keras_articles.CHANGES`): data from the local IDX files (no download; 002's
`datasets.MNIST` becomes a TensorDataset of the same files with the same
ToTensor + Normalize transform); D's compile gains the two D-output metrics; the
articles' own image and weight saving is replaced by the sample files above; 002's
undefined `noise(n)` is `torch.randn(n, 100)`, as in the tutorial it follows.
"""
import csv
import gzip
import json
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ARTICLES = {
    "000": "vanilla_mlp_keras",
    "001": "tanh_cnn_sgd",
    "002": "mlp_pytorch",
    "003": "acgan",
    "004": "dcgan",
}


# ---------- MNIST and IDX ----------
def read_idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            data = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
            magic, n = struct.unpack(">II", data[:8])
            if magic == 2051:
                rows, cols = struct.unpack(">II", data[8:16])
                return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)
            if magic == 2049:
                return np.frombuffer(data, np.uint8, offset=8)
            raise SystemExit(f"{p}: not an IDX file (magic {magic})")
    raise SystemExit(f"{path}: missing (gzip or not)")


def load_mnist(d):
    return (read_idx(os.path.join(d, "train-images-idx3-ubyte")), read_idx(os.path.join(d, "train-labels-idx1-ubyte")),
            read_idx(os.path.join(d, "t10k-images-idx3-ubyte")), read_idx(os.path.join(d, "t10k-labels-idx1-ubyte")))


def write_idx(path, images_u8):
    n = images_u8.shape[0]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28))
        f.write(np.ascontiguousarray(images_u8, dtype=np.uint8).tobytes())
    os.replace(tmp, path)


def to_u8(x, unit):
    """Generated images in the data's scale -> grey levels, as ganlab's Scale::to_u8."""
    x = np.asarray(x, np.float32).reshape(-1, 28, 28)
    v = x * 255.0 if unit else x * 127.5 + 127.5
    return np.clip(np.round(v), 0, 255).astype(np.uint8)


# ---------- the loop around an article's step ----------
class Steps:
    """steps.csv, written row by row (flushed, so a killed run keeps its rows)."""

    def __init__(self, path, extras):
        self.f = open(path, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["step", "epoch", "iter", "d_loss", "g_loss", "d_real", "d_fake", "seconds"] + extras)
        self.f.flush()

    def row(self, values):
        self.w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in values])
        self.f.flush()


def progress(cfg, epoch, step, t0):
    total = cfg["epochs"] * cfg["iters_per_epoch"]
    el = time.time() - t0
    eta = el / max(step, 1) * (total - step)
    print(f"reference {cfg['article']}: epoch {epoch}/{cfg['epochs']}, step {step}/{total}, "
          f"{el:.0f} s, about {eta:.0f} s left", flush=True)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: python {sys.argv[0]} CONFIG.json OUT_DIR")
    cfg = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    np.random.seed(cfg["seed"])
    if cfg["article"] == "002":
        info = run_torch(cfg, out)
    else:
        info = run_keras(cfg, out)
    info["numpy"] = np.__version__
    info["seeding"] = dict(info.get("seeding", {}), numpy=f"np.random.seed({cfg['seed']})")
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f, indent=2)
    print(f"reference {cfg['article']}: done", flush=True)


# ---------- the four Keras articles ----------
def run_keras(cfg, out):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(cfg["seed"])
    import keras_articles as ka
    import tf_keras

    art = cfg["article"]
    x_train, y_train, x_test, y_test = load_mnist(cfg["data_dir"])
    unit = art == "004"
    # Each article's own data preparation.
    if art == "000":
        X = ((x_train.astype(np.float32) - 127.5) / 127.5).reshape(60000, 784)
    elif art == "001":
        X = ((x_train.astype(np.float32) - 127.5) / 127.5)[:, :, :, None]
    elif art == "003":
        X = ((x_train.astype(np.float32) - 127.5) / 127.5)[:, None, :, :]
        Xt = ((x_test.astype(np.float32) - 127.5) / 127.5)[:, None, :, :]
    else:
        X = (x_train.astype(np.float32) / 255.0)[:, :, :, None]
    B, latent = cfg["batch_size"], cfg["latent"]

    class Articles(ka.Source):
        """The articles' own np.random draws (global numpy state, seeded above)."""

        def __init__(self):
            self.index = 0

        def normal(self, shape):
            return np.random.normal(0, 1, shape).astype(np.float32)

        def uniform(self, shape):
            return np.random.uniform(-1, 1, shape).astype(np.float32)

        def labels(self, n):
            return np.random.randint(0, 10, n)

        def real(self, n, lo, hi, shape):
            if art in ("000", "004"):  # np.random.randint(0, X.shape[0], n): with replacement
                idx = np.random.randint(0, X.shape[0], n)
            else:  # X_train[index * B:(index + 1) * B]: in order
                idx = np.arange(self.index * n, (self.index + 1) * n)
                self.index += 1
            return X[idx].reshape((n,) + shape), y_train[idx].astype(np.int64)

    metrics = [ka.d_real, ka.d_fake]
    if art == "000":
        m = ka.article_000(dropout=cfg["dropout"], metrics=metrics)
        step = lambda src: ka.step_000(m, src, batch_size=B)  # noqa: E731
        gen = lambda z, labels: m["generator"].predict(z, verbose=0, batch_size=500)  # noqa: E731
    elif art == "001":
        m = ka.article_001(metrics=metrics)
        step = lambda src: ka.step_001(m, src, BATCH_SIZE=B)  # noqa: E731
        gen = lambda z, labels: m["g"].predict(z, verbose=0, batch_size=500)  # noqa: E731
    elif art == "003":
        m = ka.article_003(dropout=cfg["dropout"], metrics=[metrics, []])
        step = lambda src: ka.step_003(m, src, batch_size=B, latent_size=latent)  # noqa: E731
        gen = lambda z, labels: m["generator"].predict([z, labels.reshape((-1, 1))], verbose=0, batch_size=500)  # noqa: E731
    else:
        m = ka.article_004(dropout=cfg["dropout"], metrics=metrics)
        step = lambda src: ka.step_004(m, src, latent_dim=latent, n_batch=B)  # noqa: E731
        gen = lambda z, labels: m["g_model"].predict(z, verbose=0, batch_size=500)  # noqa: E731

    draw = (lambda r, n: r.normal(0, 1, (n, latent))) if art in ("000", "004") else \
        (lambda r, n: r.uniform(-1, 1, (n, latent)))
    fixed = np.random.RandomState(cfg["seed"] + 1)  # grid and eval noise, apart from the training draws
    grid_z = draw(fixed, cfg["grid_n"]).astype(np.float32)
    eval_z = draw(fixed, cfg["eval_n"]).astype(np.float32)

    def generate(z):
        labels = np.arange(len(z)) % 10
        return to_u8(gen(z, labels), unit)

    extras = {"003": ["d_generation_loss", "d_auxiliary_loss", "g_generation_loss", "g_auxiliary_loss"],
              "004": ["d_acc"]}.get(art, [])
    log = Steps(os.path.join(out, "steps.csv"), extras)
    epochs_csv = None
    if art == "003":
        epochs_csv = csv.writer(open(os.path.join(out, "epochs.csv"), "w", newline=""))
        epochs_csv.writerow(["epoch", "component", "loss", "generation_loss", "auxiliary_loss"])
    src = Articles()
    t0 = time.time()
    k = 0
    for epoch in range(1, cfg["epochs"] + 1):
        src.index = 0
        d_hist, g_hist = [], []
        for it in range(1, cfg["iters_per_epoch"] + 1):
            t = time.time()
            d_out, g_out = step(src)
            k += 1
            d_out, g_out = np.atleast_1d(np.array(d_out, np.float64)), np.atleast_1d(np.array(g_out, np.float64))
            if art == "003":
                # D: [total, generation, auxiliary, d_real, d_fake]; G: [total, generation, auxiliary]
                d_hist.append(d_out[:3])
                g_hist.append(g_out[:3])
                row = [d_out[0], g_out[0], d_out[3], d_out[4], time.time() - t, d_out[1], d_out[2], g_out[1], g_out[2]]
            elif art == "004":
                # D: [loss, accuracy, d_real, d_fake]
                row = [d_out[0], g_out[0], d_out[2], d_out[3], time.time() - t, d_out[1]]
            else:
                row = [d_out[0], g_out[0], d_out[1], d_out[2], time.time() - t]
            log.row([k, epoch, it] + [float(v) for v in row])
        if art == "003":
            acgan_epoch_table(cfg, m, epochs_csv, epoch, Xt, y_test, d_hist, g_hist, latent)
        save_samples(cfg, out, epoch, generate, grid_z, eval_z)
        progress(cfg, epoch, k, t0)
    write_final(cfg, out, generate, draw)
    return {"framework": f"tensorflow {tf.__version__} (tf_keras {tf_keras.__version__})",
            "seeding": {"tensorflow": f"tf.random.set_seed({cfg['seed']})"}}


def acgan_epoch_table(cfg, m, w, epoch, Xt, y_test, d_hist, g_hist, latent):
    """The article's end-of-epoch evaluation (on `test_size` test images)."""
    generator, discriminator, combined = m["generator"], m["discriminator"], m["combined"]
    num_test = cfg["test_size"]
    x_test, yt = Xt[:num_test], y_test[:num_test].astype(np.int64)
    noise = np.random.uniform(-1, 1, (num_test, latent))
    sampled_labels = np.random.randint(0, 10, num_test)
    generated_images = generator.predict([noise, sampled_labels.reshape((-1, 1))], verbose=0)
    x = np.concatenate((x_test, generated_images))
    y = np.array([1] * num_test + [0] * num_test)
    aux_y = np.concatenate((yt, sampled_labels), axis=0)
    discriminator_test_loss = discriminator.evaluate(x, [y, aux_y], verbose=0)[:3]
    discriminator_train_loss = np.mean(np.array(d_hist), axis=0)
    noise = np.random.uniform(-1, 1, (2 * num_test, latent))
    sampled_labels = np.random.randint(0, 10, 2 * num_test)
    trick = np.ones(2 * num_test)
    generator_test_loss = combined.evaluate([noise, sampled_labels.reshape((-1, 1))], [trick, sampled_labels],
                                            verbose=0)
    generator_train_loss = np.mean(np.array(g_hist), axis=0)
    for name, v in [("generator (train)", generator_train_loss), ("generator (test)", generator_test_loss),
                    ("discriminator (train)", discriminator_train_loss),
                    ("discriminator (test)", discriminator_test_loss)]:
        w.writerow([epoch, name] + [f"{float(x):.9g}" for x in list(v)[:3]])


def save_samples(cfg, out, epoch, generate, grid_z, eval_z):
    if epoch in cfg["grid_epochs"]:
        write_idx(os.path.join(out, "samples", f"grid_{epoch:04d}.idx"), generate(grid_z))
    if epoch in cfg["eval_epochs"]:
        write_idx(os.path.join(out, "samples", f"eval_{epoch:04d}.idx"), generate(eval_z))


def write_final(cfg, out, generate, draw):
    z = draw(np.random.RandomState(cfg["seed"] + 2), cfg["final_n"]).astype(np.float32)
    write_idx(os.path.join(out, "final.idx"), generate(z))


# ---------- article 002 (PyTorch) ----------
def run_torch(cfg, out):
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    import torch_article as ta

    x_train = load_mnist(cfg["data_dir"])[0]
    # transforms.ToTensor() then transforms.Normalize((0.5,), (0.5,)), on the same bytes.
    data = (torch.from_numpy(x_train.astype(np.float32) / 255.0).unsqueeze(1) - 0.5) / 0.5
    train_data = DataLoader(TensorDataset(data), shuffle=True, batch_size=cfg["batch_size"])

    def images2vectors(images):
        return images.view(images.size(0), 784)

    def noise(n):
        return torch.randn(n, 100)

    discriminator = ta.discrimination()
    ta.discriminator = discriminator
    generator = ta.generate()
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.0002)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=0.0002)
    loss_fn = nn.BCELoss()

    fixed = torch.Generator().manual_seed(cfg["seed"] + 1)  # grid and eval noise, apart from training
    grid_z = torch.randn(cfg["grid_n"], 100, generator=fixed)
    eval_z = torch.randn(cfg["eval_n"], 100, generator=fixed)

    def generate(z):
        with torch.no_grad():
            return to_u8(generator(torch.as_tensor(z, dtype=torch.float32)).numpy(), False)

    log = Steps(os.path.join(out, "steps.csv"), [])
    t0, k = time.time(), 0
    for epoch in range(1, cfg["epochs"] + 1):
        for train_idx, (input_real_batch,) in enumerate(train_data):
            if train_idx >= cfg["iters_per_epoch"]:
                break
            t = time.time()
            real_data = images2vectors(input_real_batch)
            generated_fake_data = generator(noise(real_data.size(0))).detach()
            d_loss, discriminated_real, discriminated_fake = ta.train_discriminator(
                d_optimizer, loss_fn, real_data, generated_fake_data)
            generated_fake_data = generator(noise(real_data.size(0)))
            g_loss = ta.train_generator(g_optimizer, loss_fn, generated_fake_data)
            k += 1
            log.row([k, epoch, train_idx + 1, float(d_loss.item()), float(g_loss.item()),
                     float(discriminated_real.mean().item()), float(discriminated_fake.mean().item()),
                     time.time() - t])
        save_samples(cfg, out, epoch, generate, grid_z, eval_z)
        progress(cfg, epoch, k, t0)
    write_final(cfg, out, generate,
                lambda r, n: r.normal(0, 1, (n, 100)))
    return {"framework": f"pytorch {torch.__version__}",
            "seeding": {"torch": f"torch.manual_seed({cfg['seed']})"}}


if __name__ == "__main__":
    main()
