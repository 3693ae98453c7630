# DataLoader(TensorDataset, shuffle=True) training with Dropout, and a model.eval()+no_grad validation pass each epoch, then model.train(): healthy.
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
W = torch.randn(10, 1) / 10 ** 0.5
X = torch.randn(1200, 10)
Y = torch.tanh(2 * X @ W) + 0.05 * torch.randn(1200, 1)
train = DataLoader(TensorDataset(X[:1000], Y[:1000]), batch_size=50, shuffle=True)
Xv, Yv = X[1000:], Y[1000:]
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(25):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val = loss_fn(model(Xv), Yv).item()
    model.train()
    print(f"epoch {epoch} train {loss.item():.4f} val {val:.4f}")
