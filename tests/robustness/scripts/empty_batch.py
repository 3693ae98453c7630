# An empty batch now and then: plain python runs it fine, so must torchdoctor.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 8), nn.Sigmoid())   # cannot produce N(0,1) targets: a finding to confirm
opt = torch.optim.Adam(model.parameters(), lr=1e-2)


def step():
    x = torch.randn(32, 8)
    loss = F.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss

for i in range(200):
    step()
    if i % 50 == 0:
        x = torch.randn(0, 8)
        F.mse_loss(model(x), x)          # empty: nothing to learn from, nothing to fail
