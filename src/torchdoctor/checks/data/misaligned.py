"""data.misaligned: the targets do not correspond to the inputs.

What it detects:
    A run whose loss ends near what an input-independent prediction scores
    (the prior, the mean), with no more specific cause found, although the
    same model easily fits one batch when trained on it alone (the
    overfit-one-batch probe): the model can learn, the data carries no signal
    from inputs to targets.

Why training fails:
    When inputs and targets were shuffled separately, read from the wrong
    column or joined on the wrong key, nothing in x predicts y, and the best
    any model can do is predict the average.

Fix:
    Check the pipeline that pairs inputs with targets: shuffle them together
    (one permutation, or a Dataset returning both), the right columns, the
    right join.

Evidence:
    The loss of the constant prediction, the observed loss, and the probe's
    loss at its start and end.
"""
from __future__ import annotations

from ...capture import curves
from ..base import Context, make_finding
from ..capacity.too_small import defer_to_confirmed, near_constant, plan, probe  # noqa: F401 (plan: shared probe)

CODE = "D004"
CATEGORY = "data.misaligned"
TITLE = "The targets do not follow from the inputs"
PRIORITY = 12
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
x = x[torch.randperm(n)]          # inputs shuffled...
y = y[torch.randperm(n)]          # ...and targets shuffled separately
"""
FIXED = """\
perm = torch.randperm(n)
x, y = x[perm], y[perm]           # one permutation for both
"""


def check(ctx: Context):
    r = near_constant(ctx)
    if r is None:
        return []
    observed, const, floor = r
    f = make_finding(
        __name__, severity="warning", location="the inputs and targets",
        message=(f"Suspected: the loss ends at {observed:.3g}, no better than the {const:.3g} of a prediction "
                 "that ignores the input."),
        evidence={"observed_loss": observed, "constant_loss": const, "irreducible_loss": floor},
        fix={"summary": "Check how inputs are paired with targets (shuffle them together).",
             "code": FIXED.strip()})
    f.plan_data["model_type"] = ctx.trace.model.type
    return [f]


def conclude(finding, baseline, results):
    run, fit = probe(finding, baseline, results)
    if fit:
        finding.severity, finding.confidence = "error", "confirmed"
        finding.message = (finding.message.replace("Suspected: ", "").rstrip(".") +
                           f", although the same model fits one batch easily (its loss went from "
                           f"{curves.head(run.loss):.3g} to {curves.tail(run.loss):.3g}): the inputs do not "
                           "predict the targets.")
        finding.verified = {"method": "counterfactual", "metric": f"one-batch loss after {run.steps} steps",
                            "before": curves.head(run.loss), "after": curves.tail(run.loss),
                            "change": results[0][0].label}
    elif fit is False:
        finding.severity, finding.confidence = "info", "refuted"
        finding.message = "Not confirmed: the model cannot fit even one batch. " + finding.message


def reconcile(finding, findings):
    defer_to_confirmed(finding, findings, ignore=("capacity.too_small",))
