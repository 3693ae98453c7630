# MLP regression with AdamW at its default weight decay (0.01) and lr=1e-3: standard, healthy, learns.
import torch
import torch.nn as nn

torch.manual_seed(0)
W1, W2 = torch.randn(10, 1) / 10 ** 0.5, torch.randn(10, 1) / 10 ** 0.5
model = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Linear(128, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

for step in range(600):
    x = torch.randn(64, 10)
    y = (x @ W1) * torch.sigmoid(x @ W2) * 2
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 599:
        print(f"step {step} loss {loss.item():.4f}")
