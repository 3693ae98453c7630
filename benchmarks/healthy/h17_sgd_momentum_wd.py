# 3-class MLP classifier with SGD(lr=0.05, momentum=0.9, weight_decay=5e-4), the classic recipe: healthy, learns.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(8, 3)
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

for step in range(500):
    x = torch.randn(64, 8)
    y = (x @ W + 0.5 * x[:, :3] ** 2).argmax(dim=1)
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
