# The seed's Example 2, verbatim, with Example 1's training loop (as the seed says).
import torch
import torch.nn as nn
import torch.optim as optim

# Model with non-linear activation in the final layer
model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.Sigmoid())
loss_fn = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.001)

# Training loop (simplified)
for epoch in range(1000):
    input_data = torch.randn(64, 10)
    target_data = input_data.clone()  # Identity mapping
    output = model(input_data)
    loss = loss_fn(output, target_data)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"Epoch {epoch+1}, Loss: {loss.item()}")
