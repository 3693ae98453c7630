"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates"), made trustworthy.

A range test trains for a short while with an lr that grows exponentially each
step and reads the lr to use off the loss-vs-lr curve. Done naively it changes
the caller's model, optimizer, scheduler and RNG, flattens the lr ratios between
parameter groups, lets an attached scheduler fight the sweep, and turns one noisy
curve into one number with no word on how much to trust it. Here:
  - `analyze()` smooths the curve without shifting it (a centred running mean:
    the EMA the libraries plot lags by its ~50-step window, half a 100-step sweep,
    which pushes their suggestions up to a decade too high and flattens a short
    descent into noise), applies three published rules (steepest descent, fastai's
    valley, minimum/10), and gives their agreement as the confidence; a curve that
    never goes down gets "low" and no suggestion, whatever the rules say;
  - `lr_range_test()` sweeps a copy of the caller's objects (loop.clone) inside
    `preserved_rng`, keeping the ratios between param groups and never stepping
    the copied scheduler: everything the caller holds is left bit for bit as it was;
  - `lr_range_script()` runs the same sweep in a re-run of a user's script, via
    the SweepLR intervention (interventions.py).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .loop import Batches, BatchFn, clone, preserved_rng, train

# EMA factor of the loss the divergence rule watches (it must decide as the sweep goes,
# so it cannot look ahead): fastai's Recorder and lr_find use 0.98, bias-corrected.
SMOOTH = 0.98
# The sweep stops once the smoothed loss exceeds DIVERGE x its best so far: fastai's
# lr_find uses 4x (torch-lr-finder 5x). Past that point the curve says nothing more.
DIVERGE = 4.0
# The curve the rules read: a running mean centred on each point, HALF points either
# side. 9 points span 0.7 decade of the default sweep (12.4 points per decade): enough
# to average out batch noise (÷3 in sd), narrow enough to keep a descent of one decade
# (the small CNN of benchmarks/lr_range.py descends over 0.07-0.3 only, which the EMA
# of fastai and torch-lr-finder lags past: measured there, it finds no descent at all).
HALF = 4
# Points left out by the rules: the first 10% (fastai trims num_it // 10, torch-lr-finder
# skip_start=10 of its default 100: the plateau of lrs too small to move anything).
# The last points need no trimming: a centred mean does not lag into the divergence.
SKIP_START_SHARE = 0.10
# Fewer usable points than this and there is no curve to read.
MIN_POINTS = 5
# Two rules "agree" when their lrs are within a factor of 10 of each other: one decade
# is the resolution a range-test curve is read at on its log axis (12 points of the default
# 100-step sweep over 8 decades, well above point-to-point noise), and min/10 sits one
# decade below the minimum by construction, so a factor 10 is the widest gap at which
# all three can still point at the same stretch of the descent.
AGREE = 10.0
# The curve has a descending region only if the smoothed minimum lies at least 10% below
# the starting level: a sweep that moves the loss less found no lr that trains in earnest
# (the noise test below rules out noise; this one, a drift of a few percent).
MIN_DROP = 0.10
# ... and beyond NOISE_Z standard deviations of what noise alone puts between the starting
# median and the smoothed minimum (see _noise_floor): the lowest of ~10 independent
# stretches of a 100-point sweep lies ~1.5 sd out, 3 leaves a margin.
NOISE_Z = 3.0
# The descending region starts where the smoothed loss has covered 10% of its fall from
# the starting level to the minimum: before that it is the plateau of too-small lrs.
RANGE_EDGE = 0.10


def sweep_lr(start_lr: float, end_lr: float, steps: int, i: int) -> float:
    """The lr of sweep step i (0-based) of an exponential sweep from start_lr to end_lr."""
    if steps <= 1:
        return float(start_lr)
    return float(start_lr * (end_lr / start_lr) ** (i / (steps - 1)))


def group_ratios(lrs: list[float]) -> list[float]:
    """Each param group's lr relative to the first group with a non-zero lr: the sweep sets
    that group's lr and scales the others by these ratios. All-zero lrs (a warm-up that
    starts at 0) give ratio 1 everywhere; a single zero group (frozen) stays at 0."""
    ref = next((lr for lr in lrs if lr != 0), None)
    if ref is None:
        return [1.0] * len(lrs)
    return [lr / ref for lr in lrs]


def set_lr(group: dict, value: float) -> None:
    """Set a param group's lr, in place when the optimizer holds it as a tensor."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


class Smoother:
    """The bias-corrected EMA of the loss and the divergence rule, fed one loss at a time
    (shared by the in-process sweep, the script sweep and `analyze`, so all three stop alike)."""

    def __init__(self, beta: float = SMOOTH, diverge: float = DIVERGE) -> None:
        self.beta, self.diverge = beta, diverge
        self.avg, self.n = 0.0, 0
        self.best = math.inf
        self.diverged = False

    def add(self, loss: float) -> float:
        """The smoothed value after `loss` (inf from the first non-finite loss on); sets
        `diverged` when the loss is non-finite or the smoothed value passes diverge x best."""
        if self.diverged and not math.isfinite(self.avg):
            return math.inf
        if not math.isfinite(loss):
            self.avg, self.diverged = math.inf, True
            return math.inf
        self.n += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        s = self.avg / (1 - self.beta ** self.n)
        # the ratio test needs a positive best: losses that go negative (NLL on raw
        # scores) can only diverge by turning non-finite
        if self.best > 0 and math.isfinite(self.best) and s > self.diverge * self.best:
            self.diverged = True
        self.best = min(self.best, s)
        return s


@dataclass
class LRRange:
    """What a range test found. `suggestion` and `range` are NaN when the loss never
    went down (descending False): no lr of the sweep is worth suggesting then."""
    suggestion: float
    range: tuple[float, float]
    confidence: str                      # high | medium | low
    rules: dict[str, float]              # steepest | valley | min_div10 -> lr
    descending: bool
    diverged_at: float | None            # lr of the step at which the early stop fired
    lrs: list[float]                     # lr of each step (group 0's, absolute)
    losses: list[float]                  # raw loss of each step
    smoothed: list[float]                # centred mean of the losses before the divergence stop
    group_lrs: list[list[float]] = field(default_factory=list)   # (steps, groups): lrs the optimizer stepped with

    def to_dict(self, group_lrs: bool = True) -> dict[str, Any]:
        """Plain data; without `group_lrs` (steps x groups, only for tests), as the report keeps it."""
        f = float
        d = {"suggestion": f(self.suggestion), "range": [f(self.range[0]), f(self.range[1])],
                "confidence": self.confidence, "rules": {k: f(v) for k, v in self.rules.items()},
                "descending": bool(self.descending),
                "diverged_at": None if self.diverged_at is None else f(self.diverged_at),
                "lrs": [f(x) for x in self.lrs], "losses": [f(x) for x in self.losses],
                "smoothed": [f(x) for x in self.smoothed],
                "group_lrs": [[f(x) for x in row] for row in self.group_lrs]}
        if not group_lrs:
            del d["group_lrs"]
        return d


def _median(v: list[float]) -> float:
    v = sorted(v)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _steepest(lrs: list[float], s: list[float]) -> int:
    """Index of the most negative d(smoothed)/d(log lr): central differences inside,
    one-sided at the ends (np.gradient's scheme, on log lr rather than the index)."""
    x = [math.log(lr) if lr > 0 else 0.0 for lr in lrs]
    n, best, at = len(s), math.inf, 0
    if n < 2:
        return 0
    for i in range(n):
        a, b = max(0, i - 1), min(n - 1, i + 1)
        dx = x[b] - x[a] or float(b - a)           # equal lrs: fall back on the index
        g = (s[b] - s[a]) / dx
        if g < best:
            best, at = g, i
    return at


def _valley(s: list[float]) -> tuple[int, int, int]:
    """fastai's `valley` rule (fastai.callback.schedule.valley): the longest decreasing
    subsequence of the curve, ending at max_end and taken to start max_end - its length
    earlier; the suggestion is int(len/3) + int(len/6) points past that start, about halfway
    down (fastai's docs: "roughly 2/3 through the longest valley", counted from its top
    third). Returns (start, end, suggestion) indices. O(n^2): n is a sweep's ~100 points."""
    n = len(s)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if s[i] < s[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return max(0, max_start), max_end, min(max(0, idx), n - 1)


def centred(losses: list[float], half: int = HALF) -> list[float]:
    """The running mean of 2 half + 1 points centred on each point (fewer at the ends)."""
    out = []
    for i in range(len(losses)):
        w = losses[max(0, i - half):i + half + 1]
        out.append(sum(w) / len(w))
    return out


def _noise_floor(losses: list[float], half: int, k: int) -> float:
    """The drop (start median - smoothed minimum) a flat curve of this noise can show.
    The per-step noise sigma comes from the median |difference| of successive losses
    (= 0.6745 sqrt(2) sigma for Gaussian noise; a trend or a few jumps barely move it). The
    centred mean keeps sigma / sqrt(2 half + 1) of it, the median of the k starting points
    1.2533 sigma / sqrt(k); NOISE_Z of their combined sigma covers the lowest of the ~10
    independent stretches a 100-point sweep holds."""
    d = sorted(abs(b - a) for a, b in zip(losses, losses[1:]))
    if not d:
        return 0.0
    sigma = _median(d) / (0.6745 * math.sqrt(2))
    return NOISE_Z * sigma * math.sqrt(1 / (2 * half + 1) + 1.2533 ** 2 / k)


def _geomean(v: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in v) / len(v))


def analyze(lrs: list[float], losses: list[float], *, smooth: float = SMOOTH,
            diverge: float = DIVERGE, half: int = HALF) -> LRRange:
    """Read a sweep: lrs[i] is the lr of step i, losses[i] the loss of that step's batch
    (computed before the step, as fastai and torch-lr-finder record it). The EMA of
    `smooth` finds where the sweep diverged (the rule that stops it); the rules read the
    centred mean of `half` points either side of the losses before that."""
    lrs, losses = [float(x) for x in lrs], [float(x) for x in losses]
    if len(lrs) != len(losses):
        raise ValueError(f"{len(lrs)} lrs for {len(losses)} losses")
    sm, stop = Smoother(smooth, diverge), None
    for i, loss in enumerate(losses):
        sm.add(loss)
        if sm.diverged and stop is None:
            stop = i
    m = len(losses) if stop is None else stop            # usable points: before the divergence stop
    smoothed = centred(losses[:m], half)
    nan = math.nan
    out = LRRange(suggestion=nan, range=(nan, nan), confidence="low", rules={}, descending=False,
                  diverged_at=None if stop is None else lrs[stop], lrs=lrs, losses=losses, smoothed=smoothed)
    if m < MIN_POINTS:
        return out
    lo, hi = int(m * SKIP_START_SHARE), m
    if hi - lo < MIN_POINTS:                              # a short curve: use all of it
        lo = 0
    x, s = lrs[lo:hi], smoothed[lo:hi]

    # The descent ends at the smoothed minimum: steepest and valley look only up to it, so
    # the chaos between a blow-up and the divergence stop (a loss falling back from a spike)
    # cannot pass for a descent.
    i_min = min(range(len(s)), key=s.__getitem__)
    _, _, v_idx = _valley(s[:i_min + 1])
    out.rules = {"steepest": x[_steepest(x[:i_min + 1], s[:i_min + 1])], "valley": x[v_idx],
                 "min_div10": x[i_min] / 10}

    # where the loss started: the raw losses of the first (skipped) points, median against
    # single noisy batches
    k = max(lo, MIN_POINTS)
    start = _median(losses[:k])
    drop = start - s[i_min]
    out.descending = drop > 0 and drop >= max(MIN_DROP * abs(start), _noise_floor(losses[:m], half, k))
    if not out.descending:
        return out
    edge = start - RANGE_EDGE * drop
    i_low = next(i for i in range(i_min + 1) if s[i] <= edge)
    out.range = (x[i_low], x[i_min])

    # Suggestion: the geometric mean of the rules that agree (the mean on the log axis the
    # curve is read on). Each rule fails alone in a known way — steepest on a noisy
    # derivative, min/10 on a long flat bottom whose argmin wanders, valley on a bumpy
    # descent — and rarely two the same way, so agreeing rules are trusted together. With
    # no agreement, fastai's default rule (valley, since fastai 2.5), flagged "low".
    rules = list(out.rules.values())
    pairs = sorted((max(a, b) / min(a, b), k, l) for k, a in enumerate(rules)
                   for l, b in enumerate(rules) if k < l)
    if max(rules) / min(rules) <= AGREE:
        out.confidence, out.suggestion = "high", _geomean(rules)
    elif pairs[0][0] <= AGREE:
        _, k, l = pairs[0]
        out.confidence, out.suggestion = "medium", _geomean([rules[k], rules[l]])
    else:
        out.confidence, out.suggestion = "low", out.rules["valley"]
    return out


def lr_range_test(model: torch.nn.Module, loss_fn: Callable, data: Any,
                  optimizer: torch.optim.Optimizer | None = None, *, start_lr: float = 1e-7,
                  end_lr: float = 10.0, steps: int = 100, diverge: float = DIVERGE,
                  batch_fn: BatchFn | None = None, batch_size: int | None = None, scheduler: Any = None,
                  seed: int = 0, smooth: float = SMOOTH) -> LRRange:
    """Sweep the lr of a copy of (model, optimizer) exponentially from start_lr to end_lr
    over `steps` steps, stopping early on divergence, and analyze the curve.

    Group g of the optimizer steps with sweep_lr x lr_g / lr_ref (its current lrs, ratios
    kept); the lrs reported are the reference group's. A scheduler is copied with the rest
    but never stepped: the sweep owns the lr. The caller's objects and RNGs are untouched.
    Without an optimizer, the copy trains with Adam (loop.default_optimizer)."""
    if not (0 < start_lr < end_lr) or steps < 2:
        raise ValueError("need 0 < start_lr < end_lr and steps >= 2")
    lrs: list[float] = []
    losses: list[float] = []
    seen: list[list[float]] = []
    with preserved_rng(seed):
        t = clone(model, optimizer, loss_fn, scheduler)
        t.scheduler = None                     # the sweep sets every lr itself
        ratios = group_ratios([float(g["lr"]) for g in t.optimizer.param_groups])
        # what the optimizer really steps with, read at its step: (steps, groups)
        hook = t.optimizer.register_step_pre_hook(
            lambda opt, args, kwargs: seen.append([float(g["lr"]) for g in opt.param_groups]))
        stream = Batches(data, batch_size=batch_size).stream()   # inside: a DataLoader draws a seed
        sm = Smoother(smooth, diverge)
        try:
            for i in range(steps):
                lr = sweep_lr(start_lr, end_lr, steps, i)
                for g, r in zip(t.optimizer.param_groups, ratios):
                    set_lr(g, lr * r)
                train(t, stream, 1, batch_fn=batch_fn, on_step=lambda _, loss: losses.append(loss))
                lrs.append(lr)
                sm.add(losses[-1])
                if sm.diverged:
                    break
        finally:
            hook.remove()
    out = analyze(lrs, losses, smooth=smooth, diverge=diverge)
    out.group_lrs = seen
    return out


def lr_range_script(script: str, args: list[str], *, cwd: str | None = None, steps: int = 100,
                    start_lr: float = 1e-7, end_lr: float = 10.0, timeout: float = 120,
                    diverge: float = DIVERGE) -> LRRange:
    """The range test on a training script: one re-run in a child process whose optimizer
    steps with the sweep's lrs (SweepLR, group ratios kept), stopped early on divergence.
    The lrs are absolute: the sweep value of the reference group (group 0 unless its lr is 0)."""
    from .counterfactual import RunSpec, run_one          # child-process machinery: only here
    from .interventions import SweepLR

    iv = SweepLR(start_lr=start_lr, end_lr=end_lr, steps=steps, diverge=diverge)
    spec = RunSpec(script=os.path.abspath(script), args=list(args), cwd=cwd or os.getcwd(),
                   steps=steps, timeout=timeout, interventions=[iv.to_dict()])
    run = run_one(spec)
    if run.loss is None or run.loss.count == 0:
        raise RuntimeError(f"the range-test re-run of {script} recorded no optimizer step"
                           + (f": {run.error}" if run.error else ""))
    # the history holds (step, loss) for every step while count <= MAX_POINTS (4096), and a
    # uniformly decimated curve past that; the steps it names give each point its lr
    pts = [(k, v) for k, v in run.loss.history if k < steps]
    return analyze([sweep_lr(start_lr, end_lr, steps, k) for k, _ in pts], [v for _, v in pts],
                   diverge=diverge)
