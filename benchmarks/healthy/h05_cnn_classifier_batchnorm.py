# Small Conv2d+BatchNorm2d CNN classifying synthetic 12x12 images (horizontal bar / vertical bar / blob) with CrossEntropyLoss: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)

def batch(n):
    x = 0.3 * torch.randn(n, 1, 12, 12)
    y = torch.randint(0, 3, (n,))
    for i in range(n):
        r, c = torch.randint(2, 10, (2,)).tolist()
        if y[i] == 0: x[i, 0, r, 1:11] += 1.0
        elif y[i] == 1: x[i, 0, 1:11, c] += 1.0
        else: x[i, 0, r - 2:r + 1, c - 2:c + 1] += 1.0
    return x, y

model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(150):
    x, y = batch(32)
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 30 == 0 or step == 149:
        print(f"step {step} loss {loss.item():.4f}")
