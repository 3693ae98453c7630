# Uses a temp folder and DataLoader worker processes.
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
import tempfile

from torch.utils.data import DataLoader, TensorDataset

d = tempfile.mkdtemp()
with open(os.path.join(d, "note.txt"), "w") as f:
    f.write("scratch")
assert os.listdir(d) == ["note.txt"]
data = torch.randn(256, 8)
loader = DataLoader(TensorDataset(data), batch_size=16, num_workers=2, persistent_workers=True)
for epoch in range(15):
    for (x,) in loader:
        loss = F.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
