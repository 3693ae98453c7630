# MLP regression on a smooth nonlinear target: normalised inputs, linear output, MSELoss, Adam lr=1e-3 -> loss falls steadily.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(8, 1) / 8 ** 0.5
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(600):
    x = torch.randn(64, 8)
    y = torch.sin(2 * x @ W) + 0.5 * (x[:, :1] ** 2 - 1)  # shape (64, 1), roughly unit scale
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 599:
        print(f"step {step} loss {loss.item():.4f}")
