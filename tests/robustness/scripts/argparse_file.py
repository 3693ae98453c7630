# An argparse script that reads its data next to itself through __file__, with a relative
# output path; it must get its own arguments and find its file wherever it is run from.
import argparse
import os

import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float, required=True)
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--out", default="out/weights.pt")
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "data.txt")) as f:            # written next to the script by the test
    rows = [[float(v) for v in line.split()] for line in f if line.strip()]
data = torch.tensor(rows)
x, y = data[:, :-1], data[:, -1:]
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
for _ in range(args.steps):
    loss = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
os.makedirs(os.path.dirname(args.out), exist_ok=True)
torch.save(model.state_dict(), args.out)
print(f"lr={args.lr} steps={args.steps} final loss {loss.item():.4f}")
