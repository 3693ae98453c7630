"""optim.lr_too_high: steps so large that the loss diverges, goes NaN, or bounces far above where it could be.

What it detects:
    A loss that becomes NaN/Inf, ends above where it started, ends far above
    the lowest level it had already reached (it got there, then was thrown back
    out), barely moves (tested in both directions, with optim.lr_too_low), or
    jumps far above the untrained model's loss within the first steps,
    confirmed by re-running the training with the learning rate scaled
    down (x0.1 and x0.01), which reaches a far lower loss in the same steps.

Why training fails:
    A step larger than the curvature allows overshoots the minimum: the loss
    oscillates at a high level, or each step lands further away and it
    diverges. Adam normalises the gradient, so with lr=1.0 every weight moves
    by about 1.0 each step, however close it already is.

Fix:
    Lower the learning rate (the confirmation run names the value that worked),
    or add warm-up / gradient clipping when only the first steps explode.

Evidence:
    The loss at the start, its best level, its level at the end (medians over
    windows), the step where it first went non-finite, the update/weight ratio
    (healthy runs are near 1e-3), and the loss the smaller learning rates reach
    at equal steps.
"""
from __future__ import annotations

import dataclasses
import math

from ...capture import curves
from ...experiments.interventions import ScaleLR
from ..base import Context, Experiment, fmt, make_finding, times
from . import _lr
from ._lr import first_lr, tail_update_ratio

CODE = "O001"
CATEGORY = "optim.lr_too_high"
TITLE = "The learning rate is too high"
PRIORITY = 50
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
"""
FIXED = """\
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
"""

# Ends 1.5x above its start: a loss that training made worse, not noise around a plateau.
DIVERGE_FACTOR = 1.5
# Ends 3x above its best windowed median: on healthy seed-size runs the end/best
# ratio is 1.0-1.1 (both are window medians), on the seed's Adam lr=1.0 it is ~4000.
REBOUND_FACTOR = 3.0
STALLED = 0.5            # lr_too_low.NO_PROGRESS: the loss kept more than half of its start
# Jumped: within the head window (curves.head: the first 5-20 steps) the loss rose to
# 10x or more the loss at step 0, which no step had touched yet. Such a jump inflates
# the head median that "where it started" uses, so a net that blew up and collapsed
# to the mean prediction (Adam lr=1.0 on a ReLU MLP: 1.03 at step 0, 42903 at step 2,
# 0.996 at the end) looked as if it had fallen 3000x and went unreported. Measured on
# tests/test_fuzz.py's generator: 300 healthy runs (Adam lr 0.005-0.02, SGD 0.03-0.1
# with momentum) rise at most 3.05x in their first 5 steps; 53 of 60 runs at Adam
# lr=1.0 or SGD lr=10 more than 10x. Only a suspicion: the lower-lr re-runs decide.
SPIKE_FACTOR = 10.0
# The head median counts as inflated by the first steps (and step 0 is used as the start)
# only beyond 2.5x the step-0 loss: one mini-batch's loss is noisy (tests/scripts/
# low_lr_sgd.py: step 0 at 5.92 against a head median near 11 with nothing inflated),
# while a too-large first step inflates it 2.8x (the Tanh classifier below).
HEAD_INFLATED = 2.5
FACTORS = (0.1, 0.01)
# Divergence and NaN are errors even before a re-run; a confirmed bounce that a
# smaller lr improves at least 10x is an error too, a smaller gain a warning.
ERROR_GAIN = 10.0


def check(ctx: Context):
    trace = ctx.trace
    series = trace.curve()
    if series.count < 2 * curves.TAIL_MIN:
        return []
    if ctx.multi_objective:        # adversarial losses are not meant to go down
        return []
    c = curves.summarize(series)
    if series.head and math.isfinite(series.head[0]) and series.head[0] * HEAD_INFLATED < c.start:
        # The first steps made the loss worse, so the head median sits above the untrained
        # model's loss: measure from step 0 instead. A too-large step inflates the head
        # (Adam lr=1.0 on a 16-32-16 Tanh classifier: head median 3.95, step 0 ~1.4, end
        # 1.24, where lr=0.01 ends at 0.003), hiding a run that went nowhere.
        c = dataclasses.replace(c, start=series.head[0], best=min(c.best, series.head[0]))
    why = None
    if c.nonfinite_at is not None:
        why = f"The loss became non-finite at step {c.nonfinite_at}"
    elif c.end > c.start * DIVERGE_FACTOR:
        why = f"The loss rose from {fmt(c.start)} to {fmt(c.end)}"
    elif c.end > max(c.best, 0.0) * REBOUND_FACTOR:
        above = f" ({times(c.end / c.best)} its best)" if c.best > 0 else ""
        why = f"The loss reached {fmt(c.best)} and was thrown back up to {fmt(c.end)}{above}"
    elif (_lr.progress_share(ctx, c) or 0.0) >= STALLED:
        # a stalled loss: too large a step can collapse a net as well as too small a one
        # fails to move it, so both directions are tested (lr_too_low tests x10)
        why = f"The loss barely moved ({fmt(c.start)} to {fmt(c.end)})"
    elif (jump := early_jump(series)) is not None:
        first, peak, at = jump
        why = (f"The loss jumped from {fmt(first)} at the first step to {fmt(peak)} at step {at} "
               f"({times(peak / first)} higher) and ended at {fmt(c.end)}")
    if why is None or not trace.optimizers:
        return []
    lr = first_lr(trace)
    f = make_finding(
        __name__, severity="error" if c.nonfinite_at is not None else "warning",
        message=f"Suspected: {why[0].lower()}{why[1:]} with lr={lr:g}.",
        location=f"{trace.optimizers[0].type}(lr={lr:g})",
        evidence={"lr": lr, "loss_start": c.start, "loss_best": c.best, "loss_end": c.end,
                  "nonfinite_step": c.nonfinite_at, "update_ratio": tail_update_ratio(trace),
                  "steps": c.steps},
        fix={"summary": "Lower the learning rate.", "code": f"lr={lr * FACTORS[0]:g}  # was {lr:g}"})
    f.plan_data.update(lr=lr, symptom=why, stalled=why.startswith("The loss barely moved"))
    return [f]


def early_jump(series) -> tuple[float, float, int] | None:
    """(loss at step 0, the peak, its step) when the loss rose to SPIKE_FACTOR times
    its step-0 value or more within the head window."""
    head = series.head[:min(curves.HEAD_MAX, max(curves.HEAD_MIN, int(series.count * curves.HEAD_SHARE)))]
    if not head or not (math.isfinite(head[0]) and head[0] > 0):
        return None
    at = max(range(len(head)), key=lambda i: head[i])
    return (head[0], head[at], at) if head[at] >= SPIKE_FACTOR * head[0] else None


def plan(finding):
    return [Experiment([ScaleLR(x)]) for x in FACTORS]


def conclude(finding, baseline, results):
    _lr.conclude(finding, baseline, results, verb="Lower", error_gain=ERROR_GAIN)


def reconcile(finding, findings):
    _lr.one_direction(finding, findings)
