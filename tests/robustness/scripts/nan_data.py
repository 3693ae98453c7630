# NaN in the data: the loss is NaN whatever the learning rate.
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
    x = torch.randn(32, 8)
    x[0, 0] = float("nan")
    loss = F.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
