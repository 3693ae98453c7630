# LSTM sequence classifier: is the marked token's value positive? (needs memory), CrossEntropyLoss on the last hidden state: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)

class LSTMClf(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(2, 32, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])

model = LSTMClf()
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
loss_fn = nn.CrossEntropyLoss()

for step in range(300):
    vals = torch.randn(64, 12)
    pos = torch.randint(0, 12, (64,))
    mark = torch.zeros(64, 12); mark[torch.arange(64), pos] = 1.0
    x = torch.stack([vals, mark], dim=2)  # (64, 12, 2)
    y = (vals[torch.arange(64), pos] > 0).long()
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if step % 60 == 0 or step == 299:
        print(f"step {step} loss {loss.item():.4f}")
