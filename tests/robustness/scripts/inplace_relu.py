# A final ReLU(inplace=True) on targets that are half negative.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for i in range(300):
    x = torch.randn(32, 8)
    loss = F.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
