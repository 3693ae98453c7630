import torch
from torch import nn
torch.manual_seed(0)
X = torch.linspace(-3, 3, 512).unsqueeze(1)
y = X ** 2 - 1 + 0.05 * torch.randn_like(X)
model = nn.Sequential(nn.Linear(1, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-6)
loss_fn = nn.MSELoss()
for it in range(600):
    perm = torch.randperm(512)[:128]
    loss = loss_fn(model(X[perm]), y[perm])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if it % 100 == 0:
        print(it, round(loss.item(), 4))
