# The seed's Example 3, verbatim, with Example 1's training loop (as the seed says).
import torch
import torch.nn as nn
import torch.optim as optim

# Appropriate model, but with a high learning rate
model = nn.Sequential(nn.Linear(10, 10))
loss_fn = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=1.0) # High learning rate

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
