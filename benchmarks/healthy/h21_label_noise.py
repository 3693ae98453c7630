# 3-class classification where 30% of labels are replaced at random: F.cross_entropy plateaus well above 0 by nature: healthy.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
W = torch.randn(8, 3)
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(500):
    x = torch.randn(128, 8)
    y = (x @ W).argmax(dim=1)
    flip = torch.rand(128) < 0.3
    y[flip] = torch.randint(0, 3, (int(flip.sum()),))  # fresh noise every batch: cannot be memorised
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
