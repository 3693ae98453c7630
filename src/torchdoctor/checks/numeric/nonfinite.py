"""numeric.nonfinite: a NaN or Inf appears in the forward pass.

What it detects:
    A loss that became NaN or Inf, and the first module whose output was
    non-finite afterwards (log(0), division by zero, overflow, or weights that
    an exploding update already turned to NaN).

Why training fails:
    NaN spreads through every operation it touches: one NaN gradient makes the
    weights NaN and the model never recovers.

Fix:
    Find the operation named in the evidence: guard logs and divisions with an
    epsilon, clamp, use the numerically stable loss (BCEWithLogitsLoss,
    CrossEntropyLoss on logits), lower the learning rate if the weights blew up.

Evidence:
    The first step whose loss was non-finite and the first module whose output
    was non-finite.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "N001"
CATEGORY = "numeric.nonfinite"
TITLE = "NaN or Inf in the forward pass"
PRIORITY = 70
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
p = model(x).softmax(1)
loss = -(y * torch.log(p)).sum(1).mean()    # log(0) = -inf
"""
FIXED = """\
loss = nn.CrossEntropyLoss()(model(x), labels)   # log-softmax done stably
"""


def check(ctx: Context):
    trace = ctx.trace
    series = trace.curve()
    if series.first_nonfinite is None:
        return []
    where = trace.nonfinite_module
    msg = f"The loss became non-finite at step {series.first_nonfinite}"
    if where:
        msg += f"; {where} turned finite inputs and weights into NaN/Inf at step {trace.nonfinite_step}."
    elif trace.nonfinite_weights:
        where = trace.nonfinite_weights
        msg += f"; the weights of {where} had become NaN/Inf (an update blew them up)."
    else:
        msg += "."
    return [make_finding(
        __name__, severity="error", location=where or "the loss",
        message=msg, evidence={"first_nonfinite_step": series.first_nonfinite, "module": where,
                               "nonfinite_steps": series.nonfinite},
        fix={"summary": "Guard the operation that produces it (eps in log/div, clamp), or lower the lr if the weights blew up.",
             "code": "torch.log(x.clamp_min(1e-12))  # instead of torch.log(x)"})]
