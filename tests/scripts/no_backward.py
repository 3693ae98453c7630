# Builds a model and runs it, but never trains it (inference only).
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))
with torch.no_grad():
    for _ in range(5):
        print(model(torch.randn(4, 10)).mean().item())
