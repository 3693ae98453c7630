# Binary classifier with BCEWithLogitsLoss on raw logits (no Sigmoid), float 0/1 targets of the same shape (N, 1): healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
w = torch.randn(6, 1)
model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
loss_fn = nn.BCEWithLogitsLoss()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(400):
    x = torch.randn(128, 6)
    y = ((x @ w) + x[:, :1] * x[:, 1:2] > 0).float()  # (128, 1) in {0, 1}
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 399:
        print(f"step {step} loss {loss.item():.4f}")
