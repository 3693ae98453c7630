# Logs every run into a sqlite database next to it.
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

import sqlite3
from pathlib import Path

db = sqlite3.connect(Path(__file__).parent / "runs.db")
db.execute("create table if not exists runs (loss real)")
for i in range(200):
    loss = step()
db.execute("insert into runs values (?)", (loss.item(),))
db.commit()
