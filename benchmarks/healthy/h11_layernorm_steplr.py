# MLP regression with LayerNorm between layers and a StepLR schedule (lr halves every 150 steps, stepped once per step): healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(12, 1) / 12 ** 0.5
model = nn.Sequential(nn.Linear(12, 64), nn.LayerNorm(64), nn.GELU(),
                      nn.Linear(64, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=150, gamma=0.5)

for step in range(600):
    x = torch.randn(64, 12)
    y = torch.tanh(3 * x @ W) + 0.3 * x[:, 1:2] * x[:, 2:3]
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    sched.step()
    if step % 100 == 0 or step == 599:
        print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.5f}")
