# Gradient accumulation: loss/k backward on k=4 micro-batches, then one optimizer step, then zero_grad: a correct loop, learns.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(10, 3)
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
k = 4

opt.zero_grad()
for it in range(1200):
    x = torch.randn(32, 10)
    y = (x @ W).argmax(dim=1)
    loss = loss_fn(model(x), y) / k
    loss.backward()
    if (it + 1) % k == 0:
        opt.step()
        opt.zero_grad()
    if it % 200 == 0 or it == 1199:
        print(f"micro-batch {it} loss {k * loss.item():.4f}")
