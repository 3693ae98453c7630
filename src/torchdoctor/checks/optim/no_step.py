"""optim.no_step: the optimizer never steps, or steps on zero gradients.

What it detects:
    backward() runs but no optimizer ever calls step() (and the script does not
    update the parameters itself), or every step finds the gradients empty or
    zero (zero_grad() between backward() and step(), or step() before backward()).

Why training fails:
    The weights never change, so the loss never moves (except for the noise of
    the batches).

Fix:
    Call optimizer.step() after loss.backward(), and zero_grad() before
    backward, not between backward and step.

Evidence:
    The backward calls and steps counted, the share of steps with no gradient.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "O006"
CATEGORY = "optim.no_step"
TITLE = "The optimizer never steps on a gradient"
PRIORITY = 4
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
optimizer.zero_grad()
loss.backward()                 # ... and no optimizer.step()
"""
FIXED = """\
optimizer.zero_grad()
loss.backward()
optimizer.step()
"""


def check(ctx: Context):
    trace = ctx.trace
    if trace.backward_calls > 0 and trace.steps == 0 and trace.manual_updates == 0:
        return [make_finding(
            __name__, severity="error", location="optimizer.step() missing",
            message=f"backward() ran {trace.backward_calls} times but no optimizer ever called step(): the weights never change.",
            evidence={"backward_calls": trace.backward_calls, "steps": 0},
            fix={"summary": "Call optimizer.step() after loss.backward().",
                 "code": "loss.backward()\noptimizer.step()"})]
    missing = any(p.reached and p.requires_grad and not p.in_optimizer for p in trace.params)
    if trace.grad_steps_checked >= 3 and trace.zero_grad_steps == trace.grad_steps_checked and not missing:
        # (gradients that land only on parameters outside the optimizer are optim.params_missing)
        return [make_finding(
            __name__, severity="error", location="optimizer.step()",
            message=(f"All {trace.grad_steps_checked} sampled steps found every gradient empty or zero: "
                     "step() runs before backward(), or zero_grad() runs between them."),
            evidence={"steps_checked": trace.grad_steps_checked, "steps_without_gradient": trace.zero_grad_steps},
            fix={"summary": "Order the calls zero_grad(), backward(), step().",
                 "code": "optimizer.zero_grad()\nloss.backward()\noptimizer.step()"})]
    return []
