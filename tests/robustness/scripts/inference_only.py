# Inference only: a model evaluated under no_grad, no optimizer, no backward.
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
with torch.no_grad():
    for _ in range(10):
        out = model(torch.randn(32, 8))
print("predicted", out.argmax(1)[:5].tolist())
