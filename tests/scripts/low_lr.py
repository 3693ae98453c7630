# The seed's Example 2 without its final Sigmoid; lr=0.001 stays.
import torch
import torch.nn as nn
import torch.optim as optim

# Example 2 with the Sigmoid removed: the learning rate 0.001 is now the only fault
model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
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
