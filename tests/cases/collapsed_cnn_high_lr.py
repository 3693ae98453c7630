import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
# 3 kinds of 12x12 images: horizontal bar, vertical bar, blob
def make(n):
    imgs = torch.randn(n, 1, 12, 12) * 0.3
    lab = torch.randint(0, 3, (n,))
    for i in range(n):
        r = torch.randint(2, 10, (1,)).item()
        if lab[i] == 0: imgs[i, 0, r, :] += 1.5
        elif lab[i] == 1: imgs[i, 0, :, r] += 1.5
        else: imgs[i, 0, r-2:r+2, r-2:r+2] += 1.5
    return imgs, lab
X, y = make(600)

class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 3 * 3, 3)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))

net = SmallCNN()
optimizer = torch.optim.SGD(net.parameters(), lr=3.0, momentum=0.9)
for epoch in range(10):
    for i in range(0, 600, 60):
        out = net(X[i:i+60])
        loss = F.cross_entropy(out, y[i:i+60])
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    print("epoch", epoch, "loss", loss.item())
