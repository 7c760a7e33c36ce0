"""Step parity, article 002 (PyTorch MLP GAN): the article's own classes and
training functions, run on ganlab's initial weights, real batches and noise.

    python parity/article_002.py FIXTURE_DIR

Reads FIXTURE_DIR/init.safetensors (ganlab's G and D weights, Dense kernels as
[in, out]) and FIXTURE_DIR/inputs.safetensors (real_K [n, 784] and noise_J [n, 100]
in the order ganlab drew them), runs K iterations of the article's loop body, and
writes FIXTURE_DIR/article_out.safetensors: d_loss_K, g_loss_K and every weight after
each iteration (weight_K.<ganlab name>, kernels back in [in, out]).

Changes to the article's code, and why: `noise()` (undefined in the text) returns
the next recorded batch; `device` is the CPU; `batch_sz`, the optimisers and the
epoch loop are ganlab's spec assumptions (Adam(lr=0.0002), default betas).
"""
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

torch.set_num_threads(2)
device = torch.device("cpu")


# ---- the article's code, as printed ----
class discrimination(nn.Module):
    def __init__(self):
        super(discrimination, self).__init__()
        self.hidden0 = nn.Sequential(nn.Linear(784, 1024), nn.LeakyReLU(0.2),)
        self.hidden1 = nn.Sequential(nn.Linear(1024, 512), nn.LeakyReLU(0.2),)
        self.hidden2 = nn.Sequential(nn.Linear(512, 256), nn.LeakyReLU(0.2),)
        self.out = nn.Sequential(nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, x):
        x = self.hidden0(x)
        x = self.hidden1(x)
        x = self.hidden2(x)
        x = self.out(x)
        return x


class generate(nn.Module):
    def __init__(self):
        super(generate, self).__init__()
        self.hidden0 = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2))
        self.hidden1 = nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(0.2))
        self.hidden2 = nn.Sequential(nn.Linear(512, 1024), nn.LeakyReLU(0.2))
        self.out = nn.Sequential(nn.Linear(1024, 784), nn.Tanh())

    def forward(self, x):
        x = self.hidden0(x)
        x = self.hidden1(x)
        x = self.hidden2(x)
        x = self.out(x)
        return x


def train_discriminator(optimizer, loss_fn, real_data, fake_data):
    optimizer.zero_grad()
    discriminator_real_data = discriminator(real_data)
    loss_real = loss_fn(discriminator_real_data, torch.ones(real_data.size(0), 1).to(device))
    loss_real.backward()
    discriminator_fake_data = discriminator(fake_data)
    loss_fake = loss_fn(discriminator_fake_data, torch.zeros(fake_data.size(0), 1).to(device))
    loss_fake.backward()
    optimizer.step()
    return loss_real + loss_fake, discriminator_real_data, discriminator_fake_data


def train_generator(optimizer, loss_fn, fake_data):
    optimizer.zero_grad()
    output_discriminator = discriminator(fake_data)
    loss = loss_fn(output_discriminator, torch.ones(output_discriminator.size(0), 1).to(device))
    loss.backward()
    optimizer.step()
    return loss
# ---- end of the article's code ----


LAYERS = ["hidden0", "hidden1", "hidden2", "out"]


def load_into(module, prefix, weights):
    with torch.no_grad():
        for name in LAYERS:
            lin = getattr(module, name)[0]
            lin.weight.copy_(weights[f"{prefix}.{name}.weight"].t())
            lin.bias.copy_(weights[f"{prefix}.{name}.bias"])


def dump(module, prefix, out, k):
    for name in LAYERS:
        lin = getattr(module, name)[0]
        out[f"weight_{k}.{prefix}.{name}.weight"] = lin.weight.detach().t().contiguous().clone()
        out[f"weight_{k}.{prefix}.{name}.bias"] = lin.bias.detach().clone()


fixture = sys.argv[1]
init = load_file(f"{fixture}/init.safetensors")
inputs = load_file(f"{fixture}/inputs.safetensors")
K = sum(1 for k in inputs if k.startswith("real_"))
recorded = iter([inputs[f"noise_{j}"] for j in range(sum(1 for k in inputs if k.startswith("noise_")))])


def noise(n):
    z = next(recorded)
    assert z.shape[0] == n, (z.shape, n)
    return z


discriminator = discrimination()
generator = generate()
load_into(discriminator, "d", init)
load_into(generator, "g", init)
d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.0002)
g_optimizer = torch.optim.Adam(generator.parameters(), lr=0.0002)
loss_fn = nn.BCELoss()

out = {}
for k in range(K):
    real_data = inputs[f"real_{k}"]
    generated_fake_data = generator(noise(real_data.size(0))).detach()
    d_loss, discriminated_real, discriminated_fake = train_discriminator(d_optimizer, loss_fn, real_data, generated_fake_data)
    generated_fake_data = generator(noise(real_data.size(0)))
    g_loss = train_generator(g_optimizer, loss_fn, generated_fake_data)
    out[f"d_loss_{k}"] = d_loss.detach().reshape(1)
    out[f"g_loss_{k}"] = g_loss.detach().reshape(1)
    dump(generator, "g", out, k)
    dump(discriminator, "d", out, k)
save_file(out, f"{fixture}/article_out.safetensors")
print(f"article 002: {K} iterations written to {fixture}/article_out.safetensors")
