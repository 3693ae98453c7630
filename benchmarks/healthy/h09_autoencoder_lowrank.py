# Linear autoencoder 20->3->20 with a deliberate 3-wide bottleneck on genuinely rank-3 data: the bottleneck is correct, loss -> ~0.
import torch
import torch.nn as nn

torch.manual_seed(0)
A = torch.linalg.qr(torch.randn(20, 3))[0].T * 20 ** 0.5 / 3 ** 0.5  # (3, 20): data lives in a 3-d subspace, unit variance per feature
model = nn.Sequential(nn.Linear(20, 3), nn.Linear(3, 20))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)

for step in range(600):
    x = torch.randn(128, 3) @ A  # (128, 20), rank 3
    opt.zero_grad()
    loss = loss_fn(model(x), x)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 599:
        print(f"step {step} loss {loss.item():.6f}")
