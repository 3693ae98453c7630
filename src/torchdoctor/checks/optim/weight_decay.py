"""optim.weight_decay: regularisation so strong it pulls the weights away from the solution.

What it detects:
    An optimizer whose weight decay shrinks the weights by at least 0.1% per
    step (lr x weight_decay >= 1e-3), confirmed by re-running with
    weight_decay=0, which reaches a far lower loss in the same steps.

Why training fails:
    Each step multiplies the weights by (1 - lr x weight_decay) before the
    gradient acts. When that pull is as strong as the gradient, the weights
    settle near zero: the model underfits, its outputs collapse to the mean.

Fix:
    Lower weight_decay (1e-4 to 1e-2 for SGD/Adam, about 0.01-0.1 for AdamW),
    or remove it while debugging.

Evidence:
    weight_decay, the learning rate, their product (the shrink per step), and
    the loss reached with weight_decay=0 at equal steps.
"""
from __future__ import annotations

from ...experiments.interventions import SetHyper
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "O005"
CATEGORY = "optim.weight_decay"
TITLE = "Weight decay is too strong"
PRIORITY = 40
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1.0)
"""
FIXED = """\
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
"""

# Decay of 0.1% per step halves untouched weights in ~700 steps: a pull the size
# of a typical gradient step. The usual settings (SGD 5e-4 x lr 0.1, AdamW 0.01 x
# lr 1e-3) are 10-100x below it.
SHRINK = 1e-3


def check(ctx: Context):
    trace = ctx.trace
    for opt in trace.optimizers:
        for g in opt.groups:
            wd, lr = g.get("weight_decay") or 0, g.get("lr") or 0
            if isinstance(wd, (int, float)) and isinstance(lr, (int, float)) and wd * lr >= SHRINK:
                f = make_finding(
                    __name__, severity="warning", location=f"{opt.type}(lr={lr:g}, weight_decay={wd:g})",
                    message=(f"Suspected: weight_decay={wd:g} with lr={lr:g} shrinks every weight by "
                             f"{wd * lr:.2%} per step, a pull as strong as the gradient."),
                    evidence={"weight_decay": wd, "lr": lr, "shrink_per_step": wd * lr},
                    fix={"summary": "Lower weight_decay (e.g. 1e-4), or remove it while debugging.",
                         "code": f"weight_decay=1e-4  # was {wd:g}"})
                return [f]
    return []


def plan(finding):
    return [Experiment([SetHyper("weight_decay", 0.0)])]


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results):
        finding.severity = "error"
        finding.message = finding.message.replace("Suspected: ", "")
