# Binary classifier ending in Sigmoid with BCELoss: probabilities in (0, 1) against 0/1 float targets of the same shape: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1), nn.Sigmoid())
loss_fn = nn.BCELoss()
opt = torch.optim.Adam(model.parameters(), lr=5e-3)

for step in range(500):
    x = torch.randn(128, 2)
    y = ((x ** 2).sum(dim=1, keepdim=True) < 1.4).float()  # inside a circle: roughly balanced classes
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
