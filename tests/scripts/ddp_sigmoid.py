# The seed's Example 2 under DistributedDataParallel (gloo, CPU): a final Sigmoid cannot
# produce N(0,1) targets. Each rank draws its own data shard. Launched by torchrun, or as
# one process with WORLD_SIZE=1 RANK=0 MASTER_ADDR MASTER_PORT set. argv[1]: steps.
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = DDP(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 10), nn.Sigmoid()),
            find_unused_parameters=True)      # its output passes through DDP's sink node
loss_fn = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
g = torch.Generator().manual_seed(1 + rank)
for step in range(int(sys.argv[1]) if len(sys.argv) > 1 else 300):
    x = torch.randn(64, 10, generator=g)
    loss = loss_fn(model(x), x.clone())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
dist.destroy_process_group()
