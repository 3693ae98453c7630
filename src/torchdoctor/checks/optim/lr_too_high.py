"""optim.lr_too_high: steps so large that the loss diverges, goes NaN, or bounces far above where it could be.

What it detects:
    A loss that becomes NaN/Inf, ends above where it started, or ends far above
    the lowest level it had already reached (it got there, then was thrown back
    out), confirmed by re-running the training with the learning rate scaled
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

import math

from ...capture import curves
from ...experiments.interventions import ScaleLR
from ..base import CONFIRM_FACTOR, Context, Experiment, fmt, improvement, make_finding, record_tests

CODE = "O001"
CATEGORY = "optim.lr_too_high"
TITLE = "The learning rate is too high"
PRIORITY = 50

# Ends 1.5x above its start: a loss that training made worse, not noise around a plateau.
DIVERGE_FACTOR = 1.5
# Ends 3x above its best windowed median: on healthy seed-size runs the end/best
# ratio is 1.0-1.1 (both are window medians), on the seed's Adam lr=1.0 it is ~4000.
REBOUND_FACTOR = 3.0
FACTORS = (0.1, 0.01)


def check(ctx: Context):
    trace = ctx.trace
    series = trace.curve()
    if series.count < 2 * curves.TAIL_MIN:
        return []
    c = curves.summarize(series)
    why = None
    if c.nonfinite_at is not None:
        why = f"the loss became non-finite at step {c.nonfinite_at}"
    elif c.end > c.start * DIVERGE_FACTOR:
        why = f"the loss rose from {fmt(c.start)} to {fmt(c.end)}"
    elif c.best > 0 and c.end > c.best * REBOUND_FACTOR:
        why = (f"the loss reached {fmt(c.best)} and was thrown back up to {fmt(c.end)} "
               f"({c.end / c.best:.3g}x its best)")
    elif c.best == 0 and c.end > 0:
        why = f"the loss reached 0 and was thrown back up to {fmt(c.end)}"
    if why is None or not trace.optimizers:
        return []
    lr = trace.lr.head[0] if trace.lr.count else trace.optimizers[0].groups[0].get("lr")
    ratio = curves.median(trace.update_ratio.tail_values()[-curves.tail_window(trace.update_ratio.count):])
    f = make_finding(
        __name__, severity="error" if c.nonfinite_at is not None else "warning",
        message=f"Suspected: {why} with lr={lr:g}.",
        location=f"{trace.optimizers[0].type}(lr={lr:g})",
        evidence={"lr": lr, "loss_start": c.start, "loss_best": c.best, "loss_end": c.end,
                  "nonfinite_step": c.nonfinite_at, "update_ratio": ratio, "steps": c.steps},
        fix={"summary": "Lower the learning rate.", "code": f"lr={lr * 0.1:g}  # was {lr:g}"})
    f.plan_data["lr"] = lr
    return [f]


def plan(finding):
    return [Experiment([ScaleLR(x)]) for x in FACTORS]


def conclude(finding, baseline, results):
    record_tests(finding, baseline, results)
    before = baseline.end
    ok = [(e, r) for e, r in results if r.ok and math.isfinite(r.end)]
    if not ok:
        return
    # the lowest loss; within 10% of it, the larger learning rate trains faster
    best_end = min(r.end for _, r in ok)
    exp, run = next((e, r) for e, r in ok if r.end <= best_end * 1.1 + 1e-12)
    factor = exp.interventions[0].factor
    gain = improvement(before, run.end)
    lr = finding.plan_data["lr"]
    if gain >= CONFIRM_FACTOR:
        finding.confidence = "confirmed"
        finding.severity = "error"
        finding.message = finding.message.replace("Suspected: ", "").rstrip(".") + \
            f"; with lr={lr * factor:g} the same training reaches {fmt(run.end)} instead of {fmt(before)}."
        finding.verified = {"method": "counterfactual", "metric": f"loss after {run.steps} steps",
                            "before": before, "after": run.end, "change": f"lr {lr:g} -> {lr * factor:g}"}
        finding.evidence["suggested_lr"] = lr * factor
        finding.fix = {"summary": f"Lower the learning rate to {lr * factor:g}.",
                       "code": f"lr={lr * factor:g}  # was {lr:g}"}
    else:
        finding.confidence = "refuted"
        finding.severity = "info"
        finding.message = finding.message.replace("Suspected: ", "Not confirmed: ").rstrip(".") + \
            f", but a smaller learning rate does not help (best {fmt(run.end)} vs {fmt(before)})."
