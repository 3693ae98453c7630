"""grad.exploding: gradient norms blow up.

What it detects:
    A gradient norm that grows more than 1000x above its value at the start,
    or becomes non-finite, typically in RNNs and deep nets without
    normalisation, confirmed by re-running with the gradient norm clipped to 1.

Why training fails:
    A huge gradient makes a huge step, which lands where gradients are larger
    still; the weights overflow and the loss goes to NaN.

Fix:
    Clip the gradient norm (torch.nn.utils.clip_grad_norm_(params, 1.0) before
    optimizer.step()), lower the learning rate, add normalisation, or use a
    gated RNN (LSTM/GRU).

Evidence:
    The gradient norm at the start and its maximum, and the loss the clipped
    re-run reaches at equal steps.
"""
from __future__ import annotations

import math

from ...experiments.interventions import ClipGrad
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding

CODE = "V001"
CATEGORY = "grad.exploding"
TITLE = "Gradients explode"
PRIORITY = 55
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
loss.backward()
optimizer.step()                # an RNN over 50 steps, no clipping
"""
FIXED = """\
loss.backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
optimizer.step()
"""

GROWTH = 1e3             # three orders of magnitude above the first sampled steps


def check(ctx: Context):
    g = ctx.trace.grad_norm
    if g.count < 5:
        return []
    start = sorted(g.head[:5])[2]
    values = [v for _, v in g.history] + g.tail_values()
    peak = max((v if math.isfinite(v) else math.inf) for v in values)
    if not (start > 0 and peak > GROWTH * start):
        return []
    return [make_finding(
        __name__, severity="warning", location="gradients",
        message=(f"Suspected: the gradient norm grew from {fmt(start)} to {fmt(peak)} "
                 f"({'non-finite' if not math.isfinite(peak) else f'{peak / start:.3g}x'})."),
        evidence={"grad_norm_start": start, "grad_norm_max": peak},
        fix={"summary": "Clip the gradient norm before each step (and check the learning rate).",
             "code": "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\noptimizer.step()"})]


def plan(finding):
    return [Experiment([ClipGrad(1.0)])]


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results):
        finding.severity = "error"
        finding.message = finding.message.replace("Suspected: ", "")
