# A healthy identity learner: wide enough (10->64->10), ReLU hidden layer, linear
# output, Adam lr=0.01, in the seed's training loop. ReLU does not stop it from
# learning the identity, whatever the folklore says: the loss falls below 1e-4.
import torch
import torch.nn as nn
import torch.optim as optim

model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))
loss_fn = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.01)

for epoch in range(1000):
    input_data = torch.randn(64, 10)
    target_data = input_data.clone()  # Identity mapping
    output = model(input_data)
    loss = loss_fn(output, target_data)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"Epoch {epoch+1}, Loss: {loss.item()}")
