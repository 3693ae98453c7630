# Multi-output (4 targets) regression in a main() with argparse defaults under `if __name__ == "__main__":`: healthy, learns.
import argparse
import torch
import torch.nn as nn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    torch.manual_seed(0)
    W = torch.randn(8, 4) / 8 ** 0.5
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    loss_fn = nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for step in range(args.steps):
        x = torch.randn(args.batch_size, 8)
        y = torch.cat([x @ W[:, :2], torch.sin(2 * x @ W[:, 2:])], dim=1)  # (B, 4)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
