"""Article 002's own code (the PyTorch MLP GAN), as printed: the two networks and the
two training functions. Shared by the step-parity driver (`article_002.py`) and the
reference runs (`reference.py`).

`train_generator` reads the module-level `discriminator`, as the article's script
does: a driver sets `torch_article.discriminator` after building it.
"""
import torch
import torch.nn as nn

device = torch.device("cpu")
discriminator = None  # set by the driver, as the article's script defines it globally


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
