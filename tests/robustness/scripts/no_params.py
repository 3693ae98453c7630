# A model without parameters (a fixed transform) next to a trained one: the
# parameter-free module must not break anything, nor be blamed for anything.
import torch
import torch.nn as nn


class Standardize(nn.Module):            # no parameters
    def forward(self, x):
        return (x - x.mean(0)) / (x.std(0) + 1e-6)


torch.manual_seed(0)
prep = Standardize()
model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
w = torch.randn(6, 1)
for _ in range(500):
    x = 3 + 2 * torch.randn(64, 6)
    loss = nn.functional.mse_loss(model(prep(x)), torch.tanh(prep(x) @ w))
    opt.zero_grad()
    loss.backward()
    opt.step()
