# Logs, checkpoints and reloads in its own folder, as real training scripts do.
import os
from pathlib import Path

import torch
import torch.nn as nn

here = Path(__file__).parent
os.makedirs(here / "ckpt", exist_ok=True)
model = nn.Sequential(nn.Linear(10, 10), nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
with open(here / "log.txt", "a") as f:
    f.write("start\n")
for i in range(200):
    x = torch.randn(32, 10)
    loss = nn.functional.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
torch.save(model.state_dict(), here / "ckpt" / "model.pt")
model.load_state_dict(torch.load(here / "ckpt" / "model.pt"))
