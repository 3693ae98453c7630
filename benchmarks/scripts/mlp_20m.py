"""A 21-million-parameter MLP classifier trained on CPU (benchmarks/memory.py).

    python benchmarks/scripts/mlp_20m.py --steps 100 [--double-softmax]

1024 -> 4096 -> 4096 -> 10 with ReLUs (21.0 M parameters, 84 MB of float32
weights), SGD with momentum, batches of 32 from a DataLoader over 4096 fixed
examples whose labels a random linear teacher assigns; fixed seed.
`--double-softmax` adds a final Softmax before CrossEntropyLoss (a fault that
torchdoctor confirms by a re-run, so that `torchdoctor run` has re-runs to make).
"""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--double-softmax", action="store_true")
args = ap.parse_args()

torch.manual_seed(0)
x = torch.randn(4096, 1024)
y = (x @ torch.randn(1024, 10)).argmax(1)
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

layers = [nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)]
if args.double_softmax:
    layers.append(nn.Softmax(dim=1))
model = nn.Sequential(*layers)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()

step = 0
while step < args.steps:
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.4f}")
        if step >= args.steps:
            break
