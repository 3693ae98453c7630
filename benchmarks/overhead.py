"""What watch() costs: step time with and without it, interleaved, on mid-size CPU models.

    .venv/bin/python benchmarks/overhead.py [--steps 50] [--rounds 5]

For an MLP of about 6.3 million parameters and a small CNN, trains the same
model in blocks of `--steps` optimizer steps, rotating between: no watch, watch's
default mode (one step in 50 sampled), sample_every=10 (what `torchdoctor run`
uses) and sample_every=1 (every step sampled). Each watch is warmed past its
first 50 steps (all of which are sampled) before timing, then switched on and off
between blocks, so every mode sees the same model and machine state. Prints the
median block time of each mode over the unwatched one (target for the default:
<= 1.03), and the size of the watch's records after a short and a long run
(they must not grow with the number of steps).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn

import torchdoctor

MODES = ("none", "watch (default, 1 in 50)", "sample_every=10", "sample_every=1")
SAMPLE = {MODES[1]: None, MODES[2]: 10, MODES[3]: 1}


def mlp():
    # 1024*2048 + 2048*2048 + 2048*10 weights: about 6.3 million parameters
    m = nn.Sequential(nn.Linear(1024, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    return m, lambda: (torch.randn(128, 1024), torch.randint(0, 10, (128,)))


def cnn():
    m = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10))
    return m, lambda: (torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,)))


def steps(model, opt, batch, n):
    for _ in range(n):
        x, y = batch()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def record_bytes(obj, seen=None) -> int:
    """Bytes held by a trace: tensors by storage, list items at 8 bytes (a rough floor)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(record_bytes(v, seen) for v in obj.values()) + 8 * len(obj)
    if isinstance(obj, (list, tuple)):
        return sum(record_bytes(v, seen) for v in obj) + 8 * len(obj)
    if hasattr(obj, "__dict__"):
        return sum(record_bytes(v, seen) for v in vars(obj).values())
    return 8


def bench(name, make, block, rounds):
    torch.manual_seed(0)
    model, batch = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    params = sum(p.numel() for p in model.parameters())
    watches = {}
    for mode, every in SAMPLE.items():
        w = torchdoctor.watch(model, opt) if every is None else torchdoctor.watch(model, opt, sample_every=every)
        w.start()
        steps(model, opt, batch, 60)                     # past the first 50 steps, all sampled
        w.observer.remove(final=False)
        watches[mode] = w
    steps(model, opt, batch, 5)                          # warm the unwatched path too
    times = {m: [] for m in MODES}
    for r in range(rounds):
        order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]      # rotate: no mode always first
        for mode in order:
            w = watches.get(mode)
            if w is not None:
                w.observer.__enter__()
            t0 = time.perf_counter()
            steps(model, opt, batch, block)
            times[mode].append((time.perf_counter() - t0) / block)
            if w is not None:
                w.observer.remove(final=False)
    base = statistics.median(times["none"])
    rows = [(mode, statistics.median(times[mode]) * 1e3, statistics.median(times[mode]) / base) for mode in MODES]
    return name, params, rows


def memory(block):
    """Records of the default watch after `block` steps and after 4x as many. Every series
    keeps at most 4096 points (capture/trace.py), so past ~4096 steps they stop growing."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))     # small: many steps quickly
    batch = lambda: (torch.randn(32, 64), torch.randint(0, 10, (32,)))          # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torchdoctor.watch(model, opt) as w:
        steps(model, opt, batch, block)
        short = record_bytes(w.observer.trace)
        steps(model, opt, batch, 3 * block)
        long = record_bytes(w.observer.trace)
    return short, long


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="optimizer steps per timed block")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per mode")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; blocks of {a.steps} steps, "
          f"{a.rounds} per mode, interleaved\n")
    print("| model | parameters | mode | ms/step | ratio to no watch |")
    print("|---|---|---|---|---|")
    for name, make in (("MLP 1024-2048-2048-10", mlp), ("CNN 2 conv + 2 linear, 32x32", cnn)):
        name, params, rows = bench(name, make, a.steps, a.rounds)
        for mode, ms, ratio in rows:
            print(f"| {name} | {params / 1e6:.1f} M | {mode} | {ms:.2f} | {ratio:.3f} |")
    short, long = memory(5000)
    print(f"\nwatch records: {short / 1e3:.0f} kB after 5000 steps, {long / 1e3:.0f} kB after 20000 "
          f"(ratio {long / short:.2f})")


if __name__ == "__main__":
    main()
