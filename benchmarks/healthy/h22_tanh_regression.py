# Regression with a final Tanh on targets that all lie inside (-0.9, 0.9), MSELoss: the output range fits the targets: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(6, 1) / 6 ** 0.5
model = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 1), nn.Tanh())
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(500):
    x = torch.randn(64, 6)
    y = 0.9 * torch.tanh(1.5 * x @ W + 0.3 * x[:, :1] ** 2)  # (64, 1) in (-0.9, 0.9)
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
