# A DDP script that watches itself: `with torchdoctor.watch(...)` and report() on every
# rank. Rank r's shard is N(0, (1+r)^2), so the combined loss differs from each rank's.
# Writes OUT/rank{r}.json (the report) and OUT/losses{r}.json (its own loss per step).
import json
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

import torchdoctor

out = sys.argv[1]
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = DDP(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 10), nn.Sigmoid()))
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=0.001)
g = torch.Generator().manual_seed(1 + rank)
losses = []
with torchdoctor.watch(model, opt) as doctor:
    for step in range(150):
        x = torch.randn(64, 10, generator=g) * (1 + rank)
        loss = loss_fn(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 74:
            doctor.report()           # mid-run, on every rank: combined too
with open(f"{out}/rank{rank}.json", "w") as f:
    f.write(doctor.report().to_json())
with open(f"{out}/losses{rank}.json", "w") as f:
    json.dump(losses, f)
dist.destroy_process_group()
