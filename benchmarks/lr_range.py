"""Our LR range test next to torch-lr-finder's, on the same models, in one run.

For each model: torchdoctor's `lr_range_test` (suggestion and confidence) and
torch-lr-finder 0.2.2's `range_test` with its steepest-gradient suggestion (the
one its `plot(suggest_lr=True)` marks, computed here from `lr_finder.history`),
both sweeping 1e-7 -> 10 in 100 steps from the same initial weights and the same
batches. Then each suggestion, and the model's original lr, is judged the only
way that matters: train a fresh copy for N steps (same seed, same batches) and
report the final loss (median of the last 10% of the steps). Prints a markdown table.

torch-lr-finder is not a dependency of torchdoctor: install it next to it with
`pip install --no-deps torch-lr-finder tqdm` (matplotlib, which it imports for
plotting, is stubbed when absent). Without it the benchmark says so and exits 0.

    python benchmarks/lr_range.py [--train-steps 500] [--seed 0] [--scripts SCRIPT ...]

A second table runs the range test on training scripts, as `torchdoctor run`
does (one re-run of the script with the sweep's lrs), then re-runs each script
for --train-steps steps at its own lr and at the suggestion (every param
group's lr set to it) and prints both final losses. By default: the seed's
Example 3 and the learning-rate cases of the shared benchmark (016, 020), when
present next to this repository. This part needs no torch-lr-finder.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import time
import types
from typing import Any, Callable

import torch
import torch.nn as nn

from torchdoctor.experiments.loop import Batches, Trainee, preserved_rng, train
from torchdoctor.experiments.lr_range import lr_range_test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_LR, END_LR, SWEEP = 1e-7, 10.0, 100
# torch-lr-finder's plot(): skip_start=10, skip_end=5 before taking the steepest gradient
SKIP_START, SKIP_END = 10, 5


def load_lr_finder():
    """torch_lr_finder's LRFinder and TrainDataLoaderIter, or None when not installed."""
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:                       # only plot() uses it: a stub lets the module import
        mpl = types.ModuleType("matplotlib")
        mpl.pyplot = types.ModuleType("matplotlib.pyplot")
        sys.modules.setdefault("matplotlib", mpl)
        sys.modules.setdefault("matplotlib.pyplot", mpl.pyplot)
    try:
        from torch_lr_finder import LRFinder, TrainDataLoaderIter
    except ImportError:
        return None
    return LRFinder, TrainDataLoaderIter


# ---- the models ------------------------------------------------------------------
def identity_data():
    x = torch.randn(64, 10)
    return x, x.clone()


def house_data():
    g = torch.Generator().manual_seed(0)
    n = 2000
    x = torch.randn(n, 8, generator=g)
    coef = torch.tensor([3.0, -1.5, 2.0, 0.5, 0.0, 1.0, -0.7, 0.3])
    y = (x @ coef + 0.5 * x[:, 0] * x[:, 1] + 0.2 * torch.randn(n, generator=g)).unsqueeze(1)
    y = (y - y.mean()) / y.std()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)


def running_sum_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 50, 1, generator=g)
    return x, x.sum(dim=1) / math.sqrt(50)


class RNNRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 32, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        out, _ = self.rnn(x)              # (N, L, 32)
        return self.head(out[:, -1])      # (N, 1)


def shapes_data():
    """4 classes of 16x16 images: a bright bar (horizontal, vertical, diagonal, anti-diagonal) in noise."""
    g = torch.Generator().manual_seed(0)
    n = 1024
    labels = torch.randint(0, 4, (n,), generator=g)
    img = 0.5 * torch.randn(n, 1, 16, 16, generator=g)
    pos = torch.randint(3, 13, (n,), generator=g)
    idx = torch.arange(16)
    for i in range(n):
        p, c = int(pos[i]), int(labels[i])
        if c == 0:
            img[i, 0, p, :] += 1.0
        elif c == 1:
            img[i, 0, :, p] += 1.0
        elif c == 2:
            img[i, 0, idx, idx] += 1.0
        else:
            img[i, 0, idx, 15 - idx] += 1.0
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(img, labels), batch_size=32, shuffle=True)


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 4))


# name, model factory, optimizer factory (params, lr), loss, data, original lr
CASES: list[tuple[str, Callable[[], nn.Module], Callable, nn.Module, Any, float]] = [
    ("seed ex.3: linear 10->10 identity, Adam", lambda: nn.Sequential(nn.Linear(10, 10)),
     torch.optim.Adam, nn.MSELoss(), identity_data, 1.0),
    ("seed ex.1: 10-5-10 ReLU identity, Adam", lambda: nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10)),
     torch.optim.Adam, nn.MSELoss(), identity_data, 0.01),
    ("house-price MLP 8-128-128-1, SGD m=0.9",
     lambda: nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)),
     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), nn.MSELoss(), house_data(), 1.0),
    ("running-sum ReLU RNN, SGD m=0.9", RNNRegressor,
     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), nn.MSELoss(), running_sum_data(), 0.02),
    ("small CNN, 4 synthetic classes, SGD m=0.9", small_cnn,
     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), nn.CrossEntropyLoss(), shapes_data(), 1e-4),
]


# ---- the measurements --------------------------------------------------------------
def fresh(make_model: Callable[[], nn.Module], seed: int) -> nn.Module:
    with preserved_rng(seed):
        return make_model()


class _Stream:
    """An endless iterable of (inputs, targets) from the same Batches our test uses."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __iter__(self):
        return Batches(self.data).stream()


def lr_finder_suggestion(finder_cls, iter_cls, model, make_opt, loss_fn, data, seed: int) -> tuple[float, float]:
    """torch-lr-finder's steepest-gradient suggestion and its wall time (s)."""
    t0 = time.monotonic()
    with preserved_rng(seed), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        lf = finder_cls(model, make_opt(model.parameters(), START_LR), loss_fn, device="cpu")
        lf.range_test(iter_cls(_Stream(data)), start_lr=START_LR, end_lr=END_LR, num_iter=SWEEP)
    wall = time.monotonic() - t0
    lrs, losses = lf.history["lr"], lf.history["loss"]
    if len(lrs) < SKIP_START + SKIP_END + 2:          # plot() refuses to suggest then
        return math.nan, wall
    lrs, losses = lrs[SKIP_START:-SKIP_END], losses[SKIP_START:-SKIP_END]
    import numpy
    return float(lrs[int(numpy.gradient(numpy.array(losses)).argmin())]), wall


def final_loss(make_model, make_opt, loss_fn, data, lr: float, steps: int, seed: int) -> float:
    """Median loss of the last 10% of `steps` training steps at `lr` (inf once non-finite)."""
    if not (isinstance(lr, float) and math.isfinite(lr) and lr > 0):
        return math.nan
    losses: list[float] = []
    with preserved_rng(seed):
        model = make_model()
        t = Trainee(model, make_opt(model.parameters(), lr), loss_fn)
        train(t, Batches(data).stream(), steps, on_step=lambda _, loss: losses.append(loss))
    tail = sorted(x if math.isfinite(x) else math.inf for x in losses[-max(1, steps // 10):])
    return tail[len(tail) // 2]


def fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "inf" if math.isinf(x) else f"{x:.3g}"


DEFAULT_SCRIPTS = [os.path.join(ROOT, "examples", "seed", "example3_high_lr.py"),
                   os.path.join(ROOT, "..", "shared", "benchmark", "016_house_price_mlp.py"),
                   os.path.join(ROOT, "..", "shared", "benchmark", "020_running_sum_rnn.py")]


def scripts_table(scripts: list[str], steps: int) -> None:
    """The range test on scripts, and each script re-run at its own lr and at the suggestion."""
    from torchdoctor.experiments.counterfactual import RunSpec, run_one
    from torchdoctor.experiments.interventions import SetHyper
    from torchdoctor.experiments.lr_range import lr_range_script
    print(f"\nscripts: range test by re-run, then {steps} steps at the script's lr and at the suggestion\n")
    print("| script | suggestion (confidence) | sweep s | final loss @its lr | @suggestion |")
    print("|---|---|---|---|---|")
    for path in scripts:
        if not os.path.exists(path):
            print(f"| {os.path.basename(path)} | not found | | | |")
            continue
        t0 = time.monotonic()
        sweep = lr_range_script(path, [])
        sweep_s = time.monotonic() - t0
        spec = RunSpec(script=os.path.abspath(path), args=[], cwd=os.path.dirname(os.path.abspath(path)),
                       steps=steps, timeout=600)
        base = run_one(spec)
        at = math.nan
        if math.isfinite(sweep.suggestion):           # every param group at the suggestion
            spec.interventions = [SetHyper("lr", sweep.suggestion).to_dict()]
            at = run_one(spec).end
        print(f"| {os.path.basename(path)} | {fmt(sweep.suggestion)} ({sweep.confidence}) | "
              f"{sweep_s:.1f} | {fmt(base.end)} | {fmt(at)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-steps", type=int, default=500, help="training steps at each lr (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scripts", nargs="*", default=DEFAULT_SCRIPTS, help="training scripts for the second table")
    args = ap.parse_args()
    found = load_lr_finder()
    if found is None:
        print("torch-lr-finder is not installed: `pip install --no-deps torch-lr-finder tqdm` "
              "next to torchdoctor to run the comparison (it is not a torchdoctor dependency).")
        scripts_table(args.scripts, args.train_steps)
        return
    finder_cls, iter_cls = found
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print(f"sweep {START_LR:g} -> {END_LR:g} in {SWEEP} steps; final loss = median of the last 10% "
          f"of {args.train_steps} training steps, seed {args.seed}\n")
    print("| model | orig lr | ours: lr (confidence) | torch-lr-finder: lr | final loss @orig | "
          "@ours | @torch-lr-finder | sweep s ours / tlf |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make_model, make_opt, loss_fn, data, lr0 in CASES:
        model = fresh(make_model, args.seed)
        t0 = time.monotonic()
        ours = lr_range_test(model, loss_fn, data, make_opt(model.parameters(), lr0), start_lr=START_LR,
                             end_lr=END_LR, steps=SWEEP, seed=args.seed)
        ours_s = time.monotonic() - t0
        theirs, theirs_s = lr_finder_suggestion(finder_cls, iter_cls, fresh(make_model, args.seed), make_opt,
                                                loss_fn, data, args.seed)
        losses = [final_loss(make_model, make_opt, loss_fn, data, lr, args.train_steps, args.seed)
                  for lr in (lr0, ours.suggestion, theirs)]
        print(f"| {name} | {lr0:g} | {fmt(ours.suggestion)} ({ours.confidence}) | {fmt(theirs)} | "
              f"{fmt(losses[0])} | {fmt(losses[1])} | {fmt(losses[2])} | {ours_s:.1f} / {theirs_s:.1f} |")
    scripts_table(args.scripts, args.train_steps)


if __name__ == "__main__":
    main()
