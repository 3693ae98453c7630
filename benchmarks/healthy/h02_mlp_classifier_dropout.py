# MLP 4-class classifier with Dropout, CrossEntropyLoss on raw logits and integer labels, Adam lr=1e-3: healthy and learns.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(10, 4)
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.2),
                      nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 4))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(500):
    x = torch.randn(128, 10)
    y = (x @ W + 0.5 * torch.tanh(x[:, :4] * x[:, 4:8])).argmax(dim=1)  # (128,) long
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
