"""Test helpers: observe a tiny training loop in-process, run the CLI in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from torchdoctor.capture.hooks import Observer, StopTraining
from torchdoctor.capture.trace import Trace
from torchdoctor.checks.base import Context

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).parent / "scripts"
EXAMPLES = ROOT / "src" / "torchdoctor" / "examples" / "seed"


def observe(train: Callable[[], None], **kw) -> Trace:
    """Run `train` under an Observer and return its trace."""
    obs = Observer(**kw)
    with obs:
        try:
            train()
        except StopTraining:
            pass
    obs.finish({})
    return obs.trace


def identity_training(model: nn.Module, lr: float, steps: int = 300, seed: int = 0,
                      target_fn: Callable[[torch.Tensor], torch.Tensor] = lambda x: x.clone(),
                      opt: str = "Adam", dim: int = 10) -> Callable[[], None]:
    """The seed's training loop: fresh N(0,1) batches of 64, MSE against target_fn(x)."""
    def train():
        torch.manual_seed(seed)
        loss_fn = nn.MSELoss()
        optimizer = getattr(torch.optim, opt)(model.parameters(), lr=lr)
        for _ in range(steps):
            x = torch.randn(64, dim)
            loss = loss_fn(model(x), target_fn(x))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return train


def context(trace: Trace) -> Context:
    return Context(trace)


def run_cli(*args: str, timeout: float = 120, cwd: str | os.PathLike | None = None,
            env: dict[str, str] | None = None):
    """`python -m torchdoctor ARGS` in a subprocess: (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "torchdoctor", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
                          env=None if env is None else {**os.environ, **env})
    return proc.returncode, proc.stdout, proc.stderr



def ranked(report: dict) -> list[dict]:
    """The error/warning findings, in report order (what bench/score.py ranks)."""
    return [f for f in report["findings"] if f["severity"] in ("error", "warning")]


def loop(model: nn.Module, criterion, batch: Callable[[], tuple], steps: int = 200, lr: float = 0.01,
         opt: str = "Adam", zero_grad: bool = True, seed: int = 0, **opt_kw) -> Callable[[], None]:
    """A plain training loop over batch() -> (x, y); zero_grad=False leaves it out."""
    def train():
        torch.manual_seed(seed)
        optimizer = getattr(torch.optim, opt)(model.parameters(), lr=lr, **opt_kw)
        for _ in range(steps):
            x, y = batch()
            loss = criterion(model(x), y)
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return train


def findings_of(check, train: Callable[[], None], **kw):
    """Run `train` under an Observer, then one check on its trace."""
    from torchdoctor.checks.base import Context
    return check.check(Context(observe(train, **kw)))


def blobs(n_classes: int = 4, dim: int = 8, n: int = 512, seed: int = 0):
    """A fixed, separable classification set: (x (n, dim), labels (n,))."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, dim, generator=g) * 2
    labels = torch.randint(0, n_classes, (n,), generator=g)
    return centers[labels] + torch.randn(n, dim, generator=g), labels
