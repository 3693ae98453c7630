"""Best losses of simple reference models on the sampled data: the numbers behind
"no model of this kind can do better than X". Pure functions of tensors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CLASSIFICATION = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits")


def entropy(p: torch.Tensor) -> float:
    """Entropy in nats of a probability vector."""
    p = p[p > 0].double()
    return float(-(p * p.log()).sum())


def binary_entropy(t: torch.Tensor) -> float:
    """Mean per-element entropy of soft or hard binary targets' mean rate (per column)."""
    rate = t.double().mean(0).clamp(1e-12, 1 - 1e-12)                    # (K,)
    return float((-(rate * rate.log() + (1 - rate) * (1 - rate).log())).mean())


def constant_loss(kind: str, t: torch.Tensor) -> float:
    """Loss of the best input-independent prediction (the prior / the mean)."""
    t = t.double()
    if kind in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        return binary_entropy(t)
    if kind in ("cross_entropy", "nll_loss"):
        counts = torch.bincount(t.reshape(-1).long().clamp(min=0))
        return entropy(counts / counts.sum())
    if kind == "l1_loss":
        return float((t - t.median(0).values).abs().mean())
    return float(((t - t.mean(0)) ** 2).mean())


def irreducible_loss(kind: str, t: torch.Tensor) -> float:
    """The loss even a perfect model keeps: the entropy of soft targets for BCE (0 for
    hard 0/1 targets), of target distributions for a cross-entropy on probabilities; 0 else."""
    t = t.double()
    if kind in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        p = t.clamp(1e-12, 1 - 1e-12)
        h = -(p * p.log() + (1 - p) * (1 - p).log())
        return float(torch.where((t == 0) | (t == 1), torch.zeros_like(h), h).mean())
    if kind == "cross_entropy" and t.dim() == 2 and t.shape[1] > 1:
        p = t.clamp_min(1e-12)
        return float(-(t * p.log()).sum(1).mean())
    return 0.0


def linear_loss(kind: str, x: torch.Tensor, t: torch.Tensor, iters: int = 100) -> float:
    """Loss of the best affine model on (x, t): least squares for regression, logistic
    (or softmax) regression fitted by L-BFGS for classification."""
    x = x.double()
    x1 = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)   # (R, F+1)
    if kind not in CLASSIFICATION:
        sol = torch.linalg.lstsq(x1, t.double()).solution
        return constant_loss(kind, t - x1 @ sol) if kind == "l1_loss" else float(((x1 @ sol - t.double()) ** 2).mean())
    if kind in ("cross_entropy", "nll_loss"):
        y = t.reshape(-1).long()
        k = int(y.max()) + 1
        w = torch.zeros(x1.shape[1], k, dtype=torch.float64, requires_grad=True)
        fn = lambda: F.cross_entropy(x1 @ w, y)                        # noqa: E731
    else:
        tt = t.double().reshape(t.shape[0], -1)
        w = torch.zeros(x1.shape[1], tt.shape[1], dtype=torch.float64, requires_grad=True)
        fn = lambda: F.binary_cross_entropy_with_logits(x1 @ w, tt)    # noqa: E731
    opt = torch.optim.LBFGS([w], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = fn()
        loss.backward()
        return loss
    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        value = float(fn())
    return value if math.isfinite(value) else math.nan
