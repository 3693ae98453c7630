"""optim.lr_too_low: steps so small that the loss is still falling, far above where it could be.

What it detects:
    A loss that is still clearly falling at the end of training while it is
    still high compared with where it started, or one that made almost no
    progress at all, confirmed by re-running the training with the learning
    rate x10 and x100, one of which reaches a far lower loss in the same number of steps.

Why training fails:
    Each step moves the weights only a little, so training needs many times
    more steps than it was given; to the user it looks like a model that
    "learns, but never gets there".

Fix:
    Raise the learning rate (the confirmation run names the value that worked).

Evidence:
    The loss at the start and at the end, how much it fell over the last 30% of
    the steps, the update/weight ratio (healthy runs are near 1e-3), and the
    loss the larger learning rate reaches at equal steps.
"""
from __future__ import annotations

import math

from ...capture import curves
from ...experiments.interventions import ScaleLR
from ..base import Context, Experiment, fmt, make_finding
from . import _lr
from ._lr import first_lr, tail_update_ratio

CODE = "O002"
CATEGORY = "optim.lr_too_low"
TITLE = "The learning rate is too low"
PRIORITY = 60
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
"""
FIXED = """\
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
"""

# Still falling: the tail median is at least 25% below where it was 30% of the
# run earlier (curves.FALLING_SPAN). The seed's lr=0.001 case drops 41-55% there;
# runs on a plateau (seed examples 1 and 2, the benchmark's autoencoder) < 10%.
FALLING = 0.25
# Still high: the loss at the end is at least 5% of the loss at the start. The
# healthy seed example and the benchmark's healthy controls end below 0.5% of
# their start (or sit on a floor, see NO_PROGRESS); the seed's lr=0.001 case ends at 9-12%.
LEVEL = 0.05
# No progress: the loss ends above half of where it started. Any cause can do
# that; this check only asks the re-run whether a larger step would have helped
# (healthy runs that start near their floor are refuted there, at the cost of one re-run).
NO_PROGRESS = 0.5
FACTORS = (10.0, 100.0)
# A too-low lr is a matter of degree: a run that is still improving is a warning
# even when a larger rate gets further (short healthy runs do: the healthy suite's
# CNN and LSTM). Only a run that made almost no progress (NO_PROGRESS) and that a
# larger rate improves at least 10x is an error.
ERROR_GAIN = 10.0


def check(ctx: Context):
    trace = ctx.trace
    series = trace.curve()
    if series.count < 4 * curves.TAIL_MIN or not trace.optimizers:
        return []
    if ctx.multi_objective:        # adversarial losses are not meant to go down
        return []
    if any(f.category == "optim.lr_too_high" and not f.plan_data.get("stalled") for f in ctx.findings):
        return []                  # a diverging run is never also "too slow"; a stalled one is tested both ways
    c = curves.summarize(series)
    if c.nonfinite_at is not None or not (c.start > 0 and math.isfinite(c.end)):
        return []
    share = _lr.progress_share(ctx, c)
    if share is None:
        return []                  # a proven floor (or the targets' own entropy) explains the level
    if c.falling >= FALLING and share >= LEVEL:
        symptom = (f"The loss is still falling at the end ({c.falling:.0%} lower than "
                   f"{int(c.steps * curves.FALLING_SPAN)} steps before) and has only come down to "
                   f"{share:.0%} of where it started")
    elif share >= NO_PROGRESS:
        symptom = (f"The loss made little progress: it went from {fmt(c.start)} to {fmt(c.end)} "
                   f"in {c.steps} steps")
    else:
        return []
    lr = first_lr(trace)
    f = make_finding(
        __name__, severity="warning", message=f"Suspected: {symptom[0].lower()}{symptom[1:]} with lr={lr:g}.",
        location=f"{trace.optimizers[0].type}(lr={lr:g})",
        evidence={"lr": lr, "loss_start": c.start, "loss_end": c.end, "falling_last_30pct": c.falling,
                  "update_ratio": tail_update_ratio(trace), "steps": c.steps},
        fix={"summary": "Raise the learning rate.", "code": f"lr={lr * FACTORS[0]:g}  # was {lr:g}"})
    f.plan_data.update(lr=lr, symptom=symptom, stalled=share >= NO_PROGRESS)
    return [f]


def plan(finding):
    return [Experiment([ScaleLR(x)]) for x in FACTORS]


def reconcile(finding, findings):
    _lr.one_direction(finding, findings)


def conclude(finding, baseline, results):
    _lr.conclude(finding, baseline, results, verb="Raise",
                 error_gain=ERROR_GAIN if finding.plan_data["stalled"] else float("inf"))
