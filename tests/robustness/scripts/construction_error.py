# The script fails while building its model: the layer sizes do not match.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        raise ValueError("hidden size must be even, got 7")


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
