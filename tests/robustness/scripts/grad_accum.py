# Gradient accumulation: zero_grad and step once every 4 backward calls (loss / 4 each).
# Healthy: this must not be mistaken for a missing zero_grad.
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
ACCUM = 4
for i in range(1600):
    x = torch.randn(16, 10)
    loss = nn.functional.mse_loss(model(x), x) / ACCUM
    loss.backward()
    if (i + 1) % ACCUM == 0:
        opt.step()
        opt.zero_grad()
