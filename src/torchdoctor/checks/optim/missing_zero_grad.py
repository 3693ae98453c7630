"""optim.missing_zero_grad: gradients accumulate across steps because they are never reset.

What it detects:
    Optimizer steps after which the next backward() starts with the previous
    step's gradients still in place (not None, not zero), and the optimizer
    steps again without their having been cleared: zero_grad() is never
    called. Gradient accumulation (several backward calls per step, zero_grad
    after each step) is not this: there the first backward after a step finds
    the gradients cleared. Nor is a GAN's discriminator receiving gradients
    from the generator's loss that its own zero_grad clears before it steps.

Why training fails:
    backward() adds to .grad. Without zero_grad() each step uses the sum of all
    gradients so far, a growing, stale direction: the steps get larger and
    point where the loss was, not where it is, and the loss oscillates or
    diverges.

Fix:
    Call optimizer.zero_grad() once per step, before (or right after) backward's
    gradients are used: `optimizer.zero_grad(); loss.backward(); optimizer.step()`.

Evidence:
    The share of steps that began with stale gradients, the growth of the
    gradient norm. Confirmed by re-running with zero_grad() before each backward.
"""
from __future__ import annotations

from ...experiments.interventions import ZeroGrad
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "O003"
CATEGORY = "optim.missing_zero_grad"
TITLE = "Gradients are never reset (no zero_grad)"
PRIORITY = 5
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
for x, y in data:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""
FIXED = """\
for x, y in data:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
"""

# At least half of the steps started with stale gradients: a script that zeroes
# only now and then (every epoch) accumulates within each epoch just the same.
STALE_SHARE = 0.5
MIN_STEPS = 5


def check(ctx: Context):
    trace = ctx.trace
    if trace.steps < MIN_STEPS or trace.stale_grad_steps < STALE_SHARE * (trace.steps - 1):
        return []
    g = trace.grad_norm
    growth = (g.tail_values()[-1] / g.head[0]) if g.count >= 2 and g.head[0] > 0 else None
    opt = trace.optimizers[0].type if trace.optimizers else "optimizer"
    msg = (f"{trace.stale_grad_steps} of {trace.steps} steps began with the previous step's gradients still "
           f"in .grad: zero_grad() is never called, so gradients add up across steps")
    msg += f" (the gradient norm grew {growth:.3g}x)." if growth else "."
    return [make_finding(
        __name__, severity="error", location=f"{opt}.zero_grad() missing", message=msg,
        evidence={"stale_steps": trace.stale_grad_steps, "steps": trace.steps, "grad_norm_growth": growth},
        fix={"summary": "Call optimizer.zero_grad() every step.",
             "code": "optimizer.zero_grad()\nloss.backward()\noptimizer.step()"})]


def plan(finding):
    return [Experiment([ZeroGrad()])]


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, refute=False)
