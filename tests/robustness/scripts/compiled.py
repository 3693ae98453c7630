# A torch.compile'd model with a final Sigmoid on N(0, 1) targets. Compiling may limit
# what the hooks see; the run must not crash and the report must say so if it was limited.
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8), nn.Sigmoid())
cmodel = torch.compile(model, backend="eager")       # the eager backend: no C++ compiler needed
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(300):
    x = torch.randn(64, 8)
    loss = nn.functional.mse_loss(cmodel(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
