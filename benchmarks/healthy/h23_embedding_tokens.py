# Embedding + mean-pool + Linear sentiment-style classifier on integer token ids (label = sign of summed token scores): healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
vocab, seq = 50, 8
score = torch.randn(vocab)

class BagOfEmb(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, ids):
        return self.fc(self.emb(ids).mean(dim=1))

model = BagOfEmb()
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(400):
    ids = torch.randint(0, vocab, (64, seq))  # (64, 8) long
    y = (score[ids].sum(dim=1) > 0).long()
    opt.zero_grad()
    loss = loss_fn(model(ids), y)
    loss.backward()
    opt.step()
    if step % 80 == 0 or step == 399:
        print(f"step {step} loss {loss.item():.4f}")
