# bf16 autocast on the CPU, with a final Sigmoid on N(0, 1) targets (a finding to make).
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8), nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(300):
    x = torch.randn(64, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    loss = nn.functional.mse_loss(out.float(), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
