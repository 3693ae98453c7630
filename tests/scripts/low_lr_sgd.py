# Plain SGD with lr=1e-4 on a noisy regression: each step barely moves the weights.
import torch
import torch.nn as nn

torch.manual_seed(0)
w_true = torch.randn(20, 1) * 0.7
model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e-4)
for step in range(400):
    x = torch.randn(32, 20)
    y = x @ w_true + 0.3 * torch.randn(32, 1)
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(step, loss.item())
