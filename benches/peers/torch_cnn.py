"""PyTorch peers of ganlab's three CNN specs: the same networks, batches and one
training iteration as each article batches it, timed like `ganlab bench` (median
after warm-up). Prints one JSON object per spec with the same keys.

    python benches/peers/torch_cnn.py --threads 2 --iters 5

The real batch is random data of the right range (timing does not need MNIST).
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_mlp import result, setup, timed  # same command line, timing and JSON keys


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


class SamePad(nn.Module):
    """TensorFlow 'same' padding for stride 2, 3x3 on even sizes: 0 before, 1 after."""
    def forward(self, x):
        return F.pad(x, (0, 1, 0, 1))


def tanh_cnn():
    g = nn.Sequential(nn.Linear(100, 1024), nn.Tanh(), nn.Linear(1024, 6272), nn.BatchNorm1d(6272, momentum=0.01, eps=1e-3),
                      nn.Tanh(), Reshape(128, 7, 7), nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 5, padding=2), nn.Tanh(),
                      nn.Upsample(scale_factor=2), nn.Conv2d(64, 1, 5, padding=2), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(64, 128, 5), nn.Tanh(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3200, 1024), nn.Tanh(), nn.Linear(1024, 1), nn.Sigmoid())
    return g, d


def dcgan():
    g = nn.Sequential(nn.Linear(100, 6272), nn.LeakyReLU(0.2), Reshape(128, 7, 7),
                      nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(128, 1, 7, padding=3), nn.Sigmoid())
    d = nn.Sequential(SamePad(), nn.Conv2d(1, 64, 3, 2), nn.LeakyReLU(0.2), nn.Dropout(0.4),
                      SamePad(), nn.Conv2d(64, 64, 3, 2), nn.LeakyReLU(0.2), nn.Dropout(0.4),
                      nn.Flatten(), nn.Linear(3136, 1), nn.Sigmoid())
    return g, d


class AcganG(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 100)
        self.net = nn.Sequential(nn.Linear(100, 1024), nn.ReLU(), nn.Linear(1024, 6272), nn.ReLU(), Reshape(128, 7, 7),
                                 nn.Upsample(scale_factor=2), nn.Conv2d(128, 256, 5, padding=2), nn.ReLU(),
                                 nn.Upsample(scale_factor=2), nn.Conv2d(256, 128, 5, padding=2), nn.ReLU(),
                                 nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(128, 1, 2), nn.Tanh())

    def forward(self, z, c):
        return self.net(z * self.emb(c))


class AcganD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(SamePad(), nn.Conv2d(1, 32, 3, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
                                 nn.Conv2d(32, 64, 3, 1, 1), nn.LeakyReLU(0.3), nn.Dropout(0.3),
                                 SamePad(), nn.Conv2d(64, 128, 3, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
                                 nn.Conv2d(128, 256, 3, 1, 1), nn.LeakyReLU(0.3), nn.Dropout(0.3), nn.Flatten())
        self.gen = nn.Linear(12544, 1)
        self.aux = nn.Linear(12544, 10)

    def forward(self, x):
        f = self.net(x)
        return torch.sigmoid(self.gen(f)), self.aux(f)


def freeze(m, frozen):
    for p in m.parameters():
        p.requires_grad_(not frozen)


def step_tanh(g, d, og, od, b):
    real = torch.rand(b, 1, 28, 28) * 2 - 1
    g.eval()
    with torch.no_grad():
        fake = g(torch.rand(b, 100) * 2 - 1)
    g.train()
    od.zero_grad()
    F.binary_cross_entropy(d(torch.cat([real, fake])), torch.cat([torch.ones(b, 1), torch.zeros(b, 1)])).backward()
    od.step()
    freeze(d, True)
    og.zero_grad()
    F.binary_cross_entropy(d(g(torch.rand(b, 100) * 2 - 1)), torch.ones(b, 1)).backward()
    og.step()
    freeze(d, False)


def step_dcgan(g, d, og, od, b):
    h = b // 2
    real = torch.rand(h, 1, 28, 28)
    with torch.no_grad():
        fake = g(torch.randn(h, 100))
    od.zero_grad()
    F.binary_cross_entropy(d(torch.cat([real, fake])), torch.cat([torch.ones(h, 1), torch.zeros(h, 1)])).backward()
    od.step()
    freeze(d, True)
    og.zero_grad()
    F.binary_cross_entropy(d(g(torch.randn(b, 100))), torch.ones(b, 1)).backward()
    og.step()
    freeze(d, False)


def step_acgan(g, d, og, od, b):
    real = torch.rand(b, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (b,))
    sampled = torch.randint(0, 10, (b,))
    with torch.no_grad():
        fake = g(torch.rand(b, 100) * 2 - 1, sampled)
    od.zero_grad()
    p, aux = d(torch.cat([real, fake]))
    (F.binary_cross_entropy(p, torch.cat([torch.ones(b, 1), torch.zeros(b, 1)])) +
     F.cross_entropy(aux, torch.cat([labels, sampled]))).backward()
    od.step()
    freeze(d, True)
    og.zero_grad()
    s2 = torch.randint(0, 10, (2 * b,))
    p, aux = d(g(torch.rand(2 * b, 100) * 2 - 1, s2))
    (F.binary_cross_entropy(p, torch.ones(2 * b, 1)) + F.cross_entropy(aux, s2)).backward()
    og.step()
    freeze(d, False)


def bench(name, step, g, d, og, od, b, iters, warmup, peak, gflop):
    return result(name, timed(lambda: step(g, d, og, od, b), iters, warmup), peak, gflop)


def main():
    a, peak = setup(iters=5, warmup=1)
    g, d = tanh_cnn()
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9, nesterov=True)
    print(json.dumps(bench("tanh_cnn_sgd", step_tanh, g, d, sgd(g), sgd(d), 128, a.iters, a.warmup, peak, 99.63)), flush=True)
    adam = lambda m, lr: torch.optim.Adam(m.parameters(), lr=lr, betas=(0.5, 0.999), eps=1e-7)
    g, d = dcgan()
    print(json.dumps(bench("dcgan", step_dcgan, g, d, adam(g, 2e-4), adam(d, 2e-4), 256, a.iters, a.warmup, peak, 129.57)), flush=True)
    g, d = AcganG(), AcganD()
    print(json.dumps(bench("acgan", step_acgan, g, d, adam(g, 5e-5), adam(d, 5e-5), 100, a.iters, a.warmup, peak, 1177.32)), flush=True)


if __name__ == "__main__":
    main()
