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

import torch_article
from torch_article import discrimination, generate, train_discriminator, train_generator

torch.set_num_threads(2)


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
torch_article.discriminator = discriminator  # the article's global, which train_generator reads
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
