"""The overfit-one-batch probe: can the model drive the loss of one small batch near zero?

The first test of any training setup (Karpathy, "A Recipe for Training Neural
Networks", 2019: "overfit a single batch of only a few examples"). A model that
cannot memorise a handful of examples is too small for them, or the program
between the data and the loss is broken (targets that do not match the output,
a final activation that cannot reach the targets, an lr that diverges, gradients
that never arrive). A model that can is at least wired up right.

`overfit_one_batch()` trains a copy of the caller's model and optimizer on the
first batch of `data`, the same batch every step, inside `preserved_rng`: the
caller's objects and RNG states are left as they were. `diagnose()` runs the
same probe as a re-run (the SameBatch intervention) for capacity.too_small and
data.misaligned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .loop import Batches, BatchFn, clone, preserved_rng, train

# "Near zero": the loss ends at or below 5% of where it started. Measured (the cases
# of tests/test_probes.py): healthy models end at 0.01-2% of their start
# on one batch of 64 (the seed's 10-64-10 identity, MLP classifiers of 5-10 classes),
# while the failures it separates stop far above: the seed's rank-5 bottleneck at ~30%
# (the 5 of 10 directions it cannot pass), the final Sigmoid at ~75% (targets below 0).
FIT_SHARE = 0.05
# The probe's default length: Adam at its default lr 1e-3 takes 200-500 steps to
# memorise 64 rows of a 10-class problem (10% of the start left after 200, 1% after 500).
STEPS = 500
# The end level is the median of the last EDGE losses (an lr that makes the loss
# oscillate on the one batch is judged on its typical level, not one lucky step).
EDGE = 5


@dataclass
class OverfitResult:
    """What the probe measured: the loss of the one batch before the first step and at the
    end (median of the last EDGE steps), their ratio, and whether the end is near zero (<= FIT_SHARE x start)."""
    fits: bool
    start: float
    end: float
    ratio: float                      # end / start (inf when the loss went non-finite)
    steps: int
    rows: int | None                  # rows of the batch, when it has a leading batch dimension
    losses: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        verdict = "fits" if self.fits else "does not fit"
        return (f"overfit-one-batch: the model {verdict} one batch"
                f"{f' of {self.rows} rows' if self.rows else ''}: loss {self.start:.3g} -> {self.end:.3g} "
                f"in {self.steps} steps ({self.ratio:.2%} of the start; near zero is <= {FIT_SHARE:.0%})")

    def to_dict(self) -> dict[str, Any]:
        def f(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None
        return {"fits": self.fits, "start": f(self.start), "end": f(self.end), "ratio": f(self.ratio),
                "steps": self.steps, "rows": self.rows, "losses": [f(x) for x in self.losses]}


def _rows(batch: Any) -> int | None:
    """The leading dimension shared by the batch's tensors, if any."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else None
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    sizes = {_rows(v) for v in items} - {None}
    return sizes.pop() if len(sizes) == 1 else None


def _head(batch: Any, n: int) -> Any:
    """The first n rows of every tensor of a (nested) batch."""
    if isinstance(batch, torch.Tensor):
        return batch[:n] if batch.dim() else batch
    if isinstance(batch, dict):
        return {k: _head(v, n) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(_head(v, n) for v in batch)
    return batch


def _median(v: list[float]) -> float:
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def overfit_one_batch(model: torch.nn.Module, loss_fn: Callable, data: Any,
                      optimizer: torch.optim.Optimizer | None = None, *, steps: int = STEPS,
                      rows: int | None = None, batch_fn: BatchFn | None = None, batch_size: int | None = None,
                      scheduler: Any = None, seed: int = 0) -> OverfitResult:
    """Train a copy of (model, optimizer) for `steps` steps on the first batch of `data`
    (its first `rows` rows when given) and report whether the loss got near zero.

    data, batch_fn, batch_size: as for `diagnose()`. Without an optimizer, Adam(lr=1e-3).
    The caller's model, optimizer, scheduler and RNG states are untouched."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not isinstance(steps, int) or steps < 2 * EDGE:
        raise ValueError(f"steps must be an integer >= {2 * EDGE}, not {steps!r}")
    if rows is not None and (not isinstance(rows, int) or rows < 1):
        raise ValueError(f"rows must be a positive integer, not {rows!r}")
    losses: list[float] = []
    with preserved_rng(seed):
        batch = next(Batches(data, batch_size=batch_size).stream())
        if rows is not None:
            batch = _head(batch, rows)
        t = clone(model, optimizer, loss_fn, scheduler)

        def same():
            while True:
                yield batch
        train(t, same(), steps, batch_fn=batch_fn, on_step=lambda _, loss: losses.append(loss))
    start, end = losses[0], _median(losses[-EDGE:])      # the first: the untrained copy, no noise
    finite = math.isfinite(start) and math.isfinite(end)
    ratio = end / start if finite and start > 0 else (0.0 if finite and end <= 0 else math.inf)
    # a loss that may go negative (NLL of raw scores) "fits" when it falls by 95% of |start|
    fits = finite and (end <= FIT_SHARE * start if start > 0 else end <= start - (1 - FIT_SHARE) * abs(start))
    return OverfitResult(fits=bool(fits), start=start, end=end, ratio=ratio, steps=len(losses),
                         rows=_rows(batch), losses=losses)
