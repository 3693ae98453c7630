"""loss.double_softmax: a Softmax before CrossEntropyLoss, which applies its own.

What it detects:
    The prediction handed to cross_entropy (nn.CrossEntropyLoss) comes out of a
    Softmax: the loss gets probabilities where it expects raw scores (logits).
    A LogSoftmax there is harmless (log_softmax is idempotent) and not reported.

Why training fails:
    CrossEntropyLoss computes log_softmax of its input. Probabilities lie in
    [0, 1], so the scores it sees differ by at most 1: the best it can reach is
    log(1 + (C-1)/e) (1.46 for 10 classes, not 0), and the Softmax squashes the
    gradients, so the loss crawls near ln(C).

Fix:
    Remove the Softmax from the model; apply softmax only when you need
    probabilities at inference.

Evidence:
    The Softmax and where it is, the number of classes, the floor log(1 + (C-1)/e)
    no model can beat this way, ln(C), and the observed loss. Confirmed by
    re-running with the Softmax bypassed.
"""
from __future__ import annotations

import math

from ...capture import curves
from ...experiments.interventions import Bypass
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding, module_where

CODE = "L001"
CATEGORY = "loss.double_softmax"
TITLE = "Softmax before a loss that applies its own"
PRIORITY = 10
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(20, 10), nn.Softmax(dim=1))
loss = nn.CrossEntropyLoss()(model(x), labels)
"""
FIXED = """\
model = nn.Sequential(nn.Linear(20, 10))  # CrossEntropyLoss takes logits
"""


def check(ctx: Context):
    loss = ctx.trace.loss_info
    if loss is None or loss.kind != "cross_entropy" or not (loss.final_op or "").startswith("SoftmaxBackward"):
        return []
    classes = loss.pred_shape[1] if len(loss.pred_shape) >= 2 else 0
    if classes < 2:
        return []
    floor = math.log(1 + (classes - 1) / math.e)
    observed = curves.tail(ctx.trace.curve())
    final = loss.final_module
    where = module_where(ctx.trace, final.name, final.type) if final else f"softmax in {ctx.trace.model.var if ctx.trace.model else 'the model'}.forward"
    f = make_finding(
        __name__, severity="error", location=where,
        message=(f"The prediction passes through Softmax before CrossEntropyLoss, which applies log_softmax "
                 f"itself: with {classes} classes the loss cannot go below {fmt(floor)} (ln C = "
                 f"{fmt(math.log(classes))}). The loss ends at {fmt(observed)}."),
        evidence={"classes": classes, "loss_floor": floor, "ln_classes": math.log(classes),
                  "observed_loss": observed},
        fix={"summary": "Remove the Softmax: CrossEntropyLoss takes raw scores (logits).",
             "code": f"# delete {where}; use logits.softmax(dim=1) only for inference"})
    if loss.final_module_id:
        f.plan_data["bypass"] = (*loss.final_module_id, final.type, f"{final.type} at {where.split(' ')[0]}")
    return [f]


def plan(finding):
    b = finding.plan_data.get("bypass")
    return [Experiment([Bypass(*b)])] if b else []


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, floor=finding.evidence["loss_floor"], refute=False)
