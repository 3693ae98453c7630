"""loss.logits_mismatch: the loss gets probabilities where it expects logits, or the reverse.

What it detects:
    BCEWithLogitsLoss on the output of a Sigmoid (probabilities squashed twice);
    BCELoss on raw scores (values outside [0, 1], which BCELoss rejects);
    NLLLoss on probabilities (a Softmax output) or on raw scores (its loss goes
    negative), where it expects log-probabilities.

Why training fails:
    Each of these losses applies (or expects) one specific squashing. With a
    Sigmoid before BCEWithLogitsLoss the logits it sees lie in (0, 1), so it can
    never be confident: the loss is stuck above a floor and the gradients are
    tiny. NLLLoss only negates the entry of the target class: on probabilities it
    is bounded in [-1, 0], on raw scores it runs off to minus infinity.

Fix:
    Give each loss what it expects: logits to BCEWithLogitsLoss and
    CrossEntropyLoss, probabilities to BCELoss, log-probabilities (LogSoftmax) to
    NLLLoss.

Evidence:
    The loss, the last operation before it, the range of the predictions, the
    floor the mismatch imposes, the lowest loss seen. BCEWithLogitsLoss after a
    Sigmoid is confirmed by re-running with the Sigmoid bypassed, BCELoss on raw
    scores by re-running with a sigmoid applied to the model's output.
"""
from __future__ import annotations

import math

import torch

from ...capture import curves
from ...experiments.interventions import Apply, Bypass
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding, model_name, module_where

CODE = "L002"
CATEGORY = "loss.logits_mismatch"
TITLE = "The loss gets the wrong kind of output"
PRIORITY = 10
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(12, 1), nn.Sigmoid())
loss = nn.BCEWithLogitsLoss()(model(x), y)   # sigmoid applied twice
"""
FIXED = """\
model = nn.Sequential(nn.Linear(12, 1))
loss = nn.BCEWithLogitsLoss()(model(x), y)
"""


def _op(loss) -> str:
    return (loss.final_op or "").rstrip("0123456789")


def _where(trace, loss) -> str:
    f = loss.final_module
    return module_where(trace, f.name, f.type) if f else f"{_op(loss) or 'the output'} of {model_name(trace)}"


def bce_logits_floor(targets: torch.Tensor) -> float:
    """Lowest mean BCE-with-logits when every logit is confined to [0, 1]."""
    t = targets.double().reshape(-1, 1)                                # (R, 1)
    p = torch.linspace(0, 1, 101, dtype=torch.float64).reshape(1, -1)  # (1, 101) candidate logits
    loss = torch.nn.functional.softplus(-p) * t + torch.nn.functional.softplus(p) * (1 - t)
    return float(loss.min(1).values.mean())


def check(ctx: Context):
    trace, loss = ctx.trace, ctx.trace.loss_info
    if loss is None:
        return []
    op = _op(loss)
    observed = curves.tail(trace.curve())
    where = _where(trace, loss)
    if loss.kind == "binary_cross_entropy_with_logits" and op == "SigmoidBackward":
        targets = loss.targets.sample() if loss.targets is not None else None
        if targets is None:
            return []
        floor = bce_logits_floor(targets)
        f = make_finding(
            __name__, severity="error", location=where,
            message=(f"BCEWithLogitsLoss applies a sigmoid itself, but the prediction already passed through "
                     f"one: the logits it sees lie in (0, 1), so the loss cannot go below {fmt(floor)}. "
                     f"The loss ends at {fmt(observed)}."),
            evidence={"loss": "BCEWithLogitsLoss", "last_op": "Sigmoid", "loss_floor": floor,
                      "observed_loss": observed},
            fix={"summary": "Remove the final Sigmoid (BCEWithLogitsLoss takes logits), or use BCELoss.",
                 "code": f"# delete {where}; apply torch.sigmoid only for inference"})
        if loss.final_module_id:
            f.plan_data["exp"] = ("bypass", *loss.final_module_id, "Sigmoid", f"Sigmoid at {where.split(' ')[0]}")
        return [f]
    if loss.kind == "binary_cross_entropy" and op not in ("SigmoidBackward", "SoftmaxBackward", "ClampBackward",
                                                          "HardsigmoidBackward"):
        preds = loss.last_preds
        outside = float(((preds < 0) | (preds > 1)).float().mean()) if preds is not None else math.nan
        if not (outside > 0 or (preds is None and op)):
            return []
        f = make_finding(
            __name__, severity="error", location=where,
            message=(f"BCELoss expects probabilities in [0, 1], but the prediction comes straight from "
                     f"{op.replace('Backward', '') or 'the model'} with no sigmoid: "
                     f"{outside:.0%} of the values lie outside [0, 1]."),
            evidence={"loss": "BCELoss", "last_op": op.replace("Backward", ""), "outside_0_1": outside},
            fix={"summary": "Use BCEWithLogitsLoss on the raw scores (numerically safer), or add a Sigmoid.",
                 "code": "criterion = nn.BCEWithLogitsLoss()  # was nn.BCELoss()"})
        if trace.model is not None:
            f.plan_data["exp"] = ("apply", trace.model.type, "", "sigmoid", "the model")
        return [f]
    if loss.kind == "nll_loss" and op != "LogSoftmaxBackward" and op != "LogBackward":
        if op == "SoftmaxBackward":
            why = "NLLLoss expects log-probabilities but gets probabilities (a Softmax output): its loss is bounded in [-1, 0]"
        elif loss.min_value < 0:
            why = (f"NLLLoss expects log-probabilities but gets raw scores: the loss went negative "
                   f"({fmt(loss.min_value)}) and can fall without bound")
        else:
            return []
        return [make_finding(
            __name__, severity="error", location=where, message=why + ".",
            evidence={"loss": "NLLLoss", "last_op": op.replace("Backward", ""), "lowest_loss": loss.min_value},
            fix={"summary": "Apply LogSoftmax before NLLLoss, or use CrossEntropyLoss on the raw scores.",
                 "code": "criterion = nn.CrossEntropyLoss()  # takes logits; or end the model with nn.LogSoftmax(dim=1)"})]
    return []


def plan(finding):
    e = finding.plan_data.get("exp")
    if not e:
        return []
    if e[0] == "bypass":
        return [Experiment([Bypass(*e[1:])])]
    return [Experiment([Apply(*e[1:])])]


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, floor=finding.evidence.get("loss_floor"), refute=False)
