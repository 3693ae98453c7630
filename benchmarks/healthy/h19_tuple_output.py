# Model whose forward returns a tuple (prediction, features); the loss uses the first element with F.mse_loss: healthy.
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.ReLU())
        self.head = nn.Linear(64, 2)

    def forward(self, x):
        feats = self.body(x)
        return self.head(feats), feats

W = torch.randn(6, 2) / 6 ** 0.5
model = Net()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(500):
    x = torch.randn(64, 6)
    y = torch.tanh(2 * x @ W)  # (64, 2)
    opt.zero_grad()
    pred, _ = model(x)
    loss = F.mse_loss(pred, y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 499:
        print(f"step {step} loss {loss.item():.4f}")
