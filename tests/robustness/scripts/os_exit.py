# Leaves with os._exit once trained.
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

import os

for i in range(200):
    step()
os._exit(0)
