# A GAN-style loop: two models, two optimizers, two losses per step (BCE-with-logits),
# generator and discriminator updated alternately. A healthy setup on a 2-d Gaussian.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
real_mean = torch.tensor([2.0, -1.0])
for step in range(300):
    real = real_mean + 0.5 * torch.randn(64, 2)
    fake = G(torch.randn(64, 4))
    d_loss = (F.binary_cross_entropy_with_logits(D(real), torch.ones(64, 1))
              + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(64, 1)))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.binary_cross_entropy_with_logits(D(fake), torch.ones(64, 1))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
print("fake mean", G(torch.randn(256, 4)).mean(0).tolist())
