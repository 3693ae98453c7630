# 1-d CNN (Conv1d) classifying noisy sine waves by frequency (3 classes, random phase), CrossEntropyLoss, Adam: healthy.
import math
import torch
import torch.nn as nn

torch.manual_seed(0)
t = torch.linspace(0, 1, 64)
model = nn.Sequential(nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.MaxPool1d(2),
                      nn.Conv1d(16, 16, 5, padding=2), nn.ReLU(),
                      nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 3))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(300):
    y = torch.randint(0, 3, (64,))
    freq = torch.tensor([2.0, 5.0, 11.0])[y].unsqueeze(1)
    phase = 2 * math.pi * torch.rand(64, 1)
    x = (torch.sin(2 * math.pi * freq * t + phase) + 0.3 * torch.randn(64, 64)).unsqueeze(1)  # (64, 1, 64)
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 60 == 0 or step == 299:
        print(f"step {step} loss {loss.item():.4f}")
