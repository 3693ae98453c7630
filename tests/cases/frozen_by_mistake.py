import torch
import torch.nn as nn
torch.manual_seed(0)
X = torch.randn(1000, 8)
y = (X[:, 0] * 2 - X[:, 1] ** 2 + X[:, 2:5].sum(1)).unsqueeze(1)

model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
# freeze the first layer (warm-up phase)  -- oops: loops over every parameter
for p in model.parameters():
    p.requires_grad = False

log_sigma = nn.Parameter(torch.zeros(1))       # learned noise level (Gaussian NLL)
opt = torch.optim.Adam(list(model.parameters()) + [log_sigma], lr=1e-3)
for epoch in range(30):
    for i in range(0, 1000, 100):
        pred = model(X[i:i+100])
        mse = ((pred - y[i:i+100]) ** 2).mean()
        loss = 0.5 * mse * torch.exp(-2 * log_sigma) + log_sigma
        opt.zero_grad(); loss.backward(); opt.step()
    print(epoch, mse.item(), loss.item())
