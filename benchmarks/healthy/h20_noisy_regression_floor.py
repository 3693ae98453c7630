# Linear-target regression with Gaussian noise (sigma=0.5): the loss falls fast and then plateaus at the noise floor 0.25 by nature: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
w = torch.randn(5, 1) / 5 ** 0.5
model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(500):
    x = torch.randn(128, 5)
    y = x @ w + 0.5 * torch.randn(128, 1)  # unit-scale signal; irreducible MSE = 0.25
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f} (noise floor 0.25)")
