# Autoencoder with a Sigmoid output reconstructing data that lies in [0, 1] (sigmoid of 4 latent factors), MSELoss: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
A = torch.randn(4, 16)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 8),
                      nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 16), nn.Sigmoid())
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(600):
    x = torch.sigmoid(torch.randn(128, 4) @ A)  # (128, 16) in (0, 1)
    opt.zero_grad()
    loss = loss_fn(model(x), x)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 599:
        print(f"step {step} loss {loss.item():.6f}")
