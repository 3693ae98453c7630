"""loss.wrong_kind: a regression loss on class labels, or a classification loss on continuous targets.

What it detects:
    MSE/L1/Huber called with integer class labels (dtype long), or
    CrossEntropyLoss/NLLLoss given float targets that are not probability
    distributions, or a BCE loss given targets outside [0, 1].

Why training fails:
    A regression loss on class ids asks the model to put class 3 "between"
    classes 2 and 4; a classification loss on arbitrary real targets optimises
    a quantity that means nothing (or raises an error).

Fix:
    Use CrossEntropyLoss with integer labels for classification (the model
    outputs one score per class), and MSE/L1 for real-valued targets.

Evidence:
    The loss, the target's dtype and value range.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "L004"
CATEGORY = "loss.wrong_kind"
TITLE = "The loss does not fit the kind of target"
PRIORITY = 10
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
labels = torch.randint(0, 5, (n,))             # class ids
loss = nn.MSELoss()(model(x).squeeze(1), labels)
"""
FIXED = """\
model = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 5))   # one score per class
loss = nn.CrossEntropyLoss()(model(x), labels)
"""
REGRESSION = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


def check(ctx: Context):
    loss = ctx.trace.loss_info
    if loss is None:
        return []
    t = loss.targets.sample() if loss.targets is not None else None
    why = None
    if loss.kind in REGRESSION and loss.target_dtype.startswith(("torch.int", "torch.uint", "torch.long")):
        why = f"{loss.kind} gets integer targets ({loss.target_dtype}): class labels need a classification loss"
    elif loss.kind in ("cross_entropy", "nll_loss") and loss.target_dtype.startswith("torch.float") \
            and t is not None and len(loss.target_shape) == len(loss.pred_shape):
        rows = t.double()
        if bool((rows < 0).any()) or bool(((rows.sum(1) - 1).abs() > 1e-3).any()):
            why = f"{loss.kind} gets float targets that are not probability distributions"
    elif loss.kind.startswith("binary_cross_entropy") and t is not None and \
            (bool((t < 0).any()) or bool((t > 1).any())):
        why = f"{loss.kind} gets targets outside [0, 1] (from {float(t.min()):.3g} to {float(t.max()):.3g})"
    if why is None:
        return []
    return [make_finding(
        __name__, severity="error", location=f"{loss.kind}(target {loss.target_dtype})",
        message=why + ".", evidence={"loss": loss.kind, "target_dtype": loss.target_dtype},
        fix={"summary": "Match the loss to the target: CrossEntropyLoss for class labels, MSE for real values.",
             "code": FIXED.strip()})]
