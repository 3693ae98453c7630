# Trains briefly and checks that it received its own command-line arguments.
import argparse
import sys

import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, required=True)
p.add_argument("--expect-name", default=None)
a = p.parse_args()
assert __name__ == "__main__"
if a.expect_name:
    assert sys.argv[0].endswith(a.expect_name), sys.argv
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for _ in range(a.steps):
    x = torch.randn(32, 4)
    loss = nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
    opt.zero_grad()
    loss.backward()
    opt.step()
print("ARGS-OK", a.steps)
