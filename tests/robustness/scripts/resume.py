# Resumes from its own checkpoint when one exists.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 8), nn.Sigmoid())   # cannot produce N(0,1) targets: a finding to confirm
opt = torch.optim.Adam(model.parameters(), lr=1e-2)


def step():
    x = torch.randn(32, 8)
    loss = F.mse_loss(model(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss

import os
from pathlib import Path

ckpt = Path(__file__).parent / "ckpt.pt"
start = 0
if ckpt.exists():
    state = torch.load(ckpt)
    model.load_state_dict(state["model"])
    start = state["step"]
for i in range(start, 300):
    step()
    if (i + 1) % 100 == 0:
        torch.save({"model": model.state_dict(), "step": i + 1}, ckpt)
