# Frozen "pretrained" backbone (pretrained in-script, then requires_grad=False, eval) + new trainable head; optimizer gets only the head: healthy.
import torch
import torch.nn as nn

torch.manual_seed(0)
W = torch.randn(10, 4)
backbone = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
pre_head = nn.Linear(32, 4)
pre_opt = torch.optim.Adam(list(backbone.parameters()) + list(pre_head.parameters()), lr=3e-3)
for step in range(200):  # "pretraining" on a related task: the 4-way argmax
    x = torch.randn(128, 10)
    pre_opt.zero_grad()
    loss = nn.functional.cross_entropy(pre_head(backbone(x)), (x @ W).argmax(dim=1))
    loss.backward()
    pre_opt.step()
print(f"pretrain loss {loss.item():.4f}")

backbone.requires_grad_(False).eval()
head = nn.Linear(32, 2)  # new task: does class 0 or 1 win? (binary, cross-entropy)
opt = torch.optim.Adam(head.parameters(), lr=1e-2)
for step in range(400):
    x = torch.randn(128, 10)
    y = ((x @ W).argmax(dim=1) < 2).long()
    opt.zero_grad()
    loss = nn.functional.cross_entropy(head(backbone(x)), y)
    loss.backward()
    opt.step()
    if step % 100 == 0 or step == 399:
        print(f"head step {step} loss {loss.item():.4f}")
