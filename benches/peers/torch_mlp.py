"""PyTorch peer of ganlab's two MLP specs: the same networks, batches and one
training iteration (D step + G step) as each article batches it, timed the way
`ganlab bench` times it (median after warm-up). Prints one JSON object per spec.

    python benches/peers/torch_mlp.py --threads 2 --iters 30

Real MNIST is not needed for timing: the real batch is random data in [-1, 1].
"""
import argparse, json, os, statistics, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cpuinfo import result_row, timed  # noqa: E402,F401 (timed: torch_cnn takes it from here)

import torch
import torch.nn as nn


def mlp_g():
    return nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2),
                         nn.Linear(512, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh())


def mlp_d(dropout):
    layers, fan_in = [], 784
    for w in (1024, 512, 256):
        layers += [nn.Linear(fan_in, w), nn.LeakyReLU(0.2)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        fan_in = w
    return nn.Sequential(*layers, nn.Linear(256, 1), nn.Sigmoid())


def keras_step(G, D, opt_g, opt_d, loss, n):
    """Article 000: D on [fakes, reals] as one batch, then G through D on the same noise."""
    noise = torch.randn(n, 100)
    with torch.no_grad():
        fake = G(noise)
    real = torch.rand(n, 784) * 2 - 1
    x = torch.cat([fake, real])
    y = torch.cat([torch.zeros(n, 1), torch.ones(n, 1)])
    opt_d.zero_grad()
    loss(D(x), y).backward()
    opt_d.step()
    for p in D.parameters():
        p.requires_grad_(False)
    opt_g.zero_grad()
    loss(D(G(noise)), torch.ones(n, 1)).backward()
    opt_g.step()
    for p in D.parameters():
        p.requires_grad_(True)


def torch_step(G, D, opt_g, opt_d, loss, n):
    """Article 002: BCE(D(real), 1) + BCE(D(fake), 0), then G on new noise."""
    real = torch.rand(n, 784) * 2 - 1
    fake = G(torch.randn(n, 100)).detach()
    opt_d.zero_grad()
    loss(D(real), torch.ones(n, 1)).backward()
    loss(D(fake), torch.zeros(n, 1)).backward()
    opt_d.step()
    opt_g.zero_grad()
    loss(D(G(torch.randn(n, 100))), torch.ones(n, 1)).backward()
    opt_g.step()


def peak_gflops():
    a = torch.ones(2048, 2048)
    a @ a
    ts = []
    for _ in range(5):
        s = time.perf_counter()
        a @ a
        ts.append(time.perf_counter() - s)
    return 2 * 2048 ** 3 / statistics.median(ts) / 1e9


def result(name, ts, peak, gflop):
    """One JSON row with the keys of `ganlab bench --json`."""
    return result_row(name, f"pytorch {torch.__version__}", torch.get_num_threads(), ts, peak, gflop)


def bench(name, step, G, D, betas, n, iters, warmup, peak, gflop):
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=betas)
    loss = nn.BCELoss()
    return result(name, timed(lambda: step(G, D, opt_g, opt_d, loss, n), iters, warmup), peak, gflop)


def setup(iters, warmup):
    """The peers' command line (`--threads`, `--iters`, `--warmup`, these defaults),
    torch's threads and seed, and the GEMM peak: `(args, peak)`."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--warmup", type=int, default=warmup)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    return a, peak_gflops()


def main():
    a, peak = setup(iters=30, warmup=5)
    # GFLOP per iteration as ganlab counts it (`ganlab bench` prints the same figures).
    print(json.dumps(bench("vanilla_mlp_keras", keras_step, mlp_g(), mlp_d(0.3), (0.5, 0.999), 128, a.iters, a.warmup, peak, 4.09)))
    print(json.dumps(bench("mlp_pytorch", torch_step, mlp_g(), mlp_d(0.0), (0.9, 0.999), 100, a.iters, a.warmup, peak, 3.19)))


if __name__ == "__main__":
    main()
