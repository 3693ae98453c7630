import torch, torch.nn as nn
torch.manual_seed(0)
N = 1500
X = torch.randn(N, 16)
A = torch.randn(16, 8)
Y = torch.tanh(X @ A / 4) * 3        # 8 roughly independent outputs
model = nn.Sequential(
    nn.Linear(16, 64), nn.ReLU(),
    nn.Linear(64, 2),                 # compact "latent code"
    nn.Linear(2, 64), nn.ReLU(),
    nn.Linear(64, 8),
)
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
mse = nn.MSELoss()
for ep in range(30):
    for i in range(0, N, 100):
        xb, yb = X[i:i+100], Y[i:i+100]
        loss = mse(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    print(ep, loss.item())
