# Models returning a dict, a tuple and a dataclass; losses by functions (F.mse_loss,
# F.cross_entropy). The dict model's regression head ends in a Sigmoid while its targets
# are N(0, 1): a finding that must be traced through the dict to that module.
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Out:
    logits: torch.Tensor
    hidden: torch.Tensor


class DictNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(32, 8), nn.Sigmoid())

    def forward(self, x):
        h = self.body(x)
        return {"pred": self.head(h), "features": h}


class TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x), x.mean()


class DataclassNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return Out(logits=self.fc2(h), hidden=h)


torch.manual_seed(0)
nets = [DictNet(), TupleNet(), DataclassNet()]
opt = torch.optim.Adam([p for n in nets for p in n.parameters()], lr=1e-2)
w = torch.randn(8, 3)
for _ in range(400):
    x = torch.randn(64, 8)
    y = (x @ w).argmax(1)
    loss = (F.mse_loss(nets[0](x)["pred"], x)
            + F.cross_entropy(nets[1](x)[0], y) + F.cross_entropy(nets[2](x).logits, y))
    opt.zero_grad()
    loss.backward()
    opt.step()
