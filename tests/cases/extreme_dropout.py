import torch
from torch import nn
torch.manual_seed(0)
X = torch.randn(800, 5)
y = (X[:, 0] * X[:, 1] + torch.cos(X[:, 2]) + X[:, 3]).unsqueeze(-1)
net = nn.Sequential(
    nn.Linear(5, 16), nn.ReLU(), nn.Dropout(p=0.95),
    nn.Linear(16, 16), nn.ReLU(), nn.Dropout(p=0.95),
    nn.Linear(16, 1),
)
opt = torch.optim.Adam(net.parameters(), lr=3e-3)
for epoch in range(30):
    net.train()
    for i in range(0, 800, 40):
        loss = nn.functional.mse_loss(net(X[i:i+40]), y[i:i+40])
        opt.zero_grad(); loss.backward(); opt.step()
    print(epoch, loss.item())
