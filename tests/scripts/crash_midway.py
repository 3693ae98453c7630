# Trains for 30 steps, then fails the way real scripts do (a shape error in a new branch).
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(100):
    x = torch.randn(64, 10)
    loss = nn.functional.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step == 29:
        raise ValueError("validation batch has the wrong shape")
