# MLP regression with OneCycleLR (max_lr=1e-2, total_steps equals the number of optimizer steps, stepped after each step): healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(8, 1) / 8 ** 0.5
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
steps = 500
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps)

for step in range(steps):
    x = torch.randn(64, 8)
    y = torch.relu(2 * x @ W) - 0.4 + 0.2 * torch.cos(x[:, :1])
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    sched.step()
    if step % 100 == 0 or step == steps - 1:
        print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.5f}")
