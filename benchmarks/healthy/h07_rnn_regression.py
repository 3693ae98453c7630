# Elman RNN regressing the scaled running sum of a 10-step sequence from its last hidden state, MSELoss, Adam lr=3e-3: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)

class RNNReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 32, batch_first=True)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(h[:, -1])

model = RNNReg()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.MSELoss()

for step in range(400):
    x = torch.randn(64, 10, 1)
    y = x.sum(dim=1) / 10 ** 0.5  # (64, 1), unit variance
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 80 == 0 or step == 399:
        print(f"step {step} loss {loss.item():.4f}")
