"""mode.eval: the model trains in eval mode.

What it detects:
    A model with Dropout or BatchNorm layers whose training forward passes
    (autograd on, output trained on) mostly run with model.training == False,
    typically a model.eval() for validation never followed by model.train().

Why training fails:
    In eval mode Dropout does nothing and BatchNorm normalises with running
    statistics it no longer updates: the model trains in a different regime
    than intended, BatchNorm layers go stale and training can stall or diverge.

Fix:
    Call model.train() at the start of every training epoch (after any
    validation pass that called model.eval()).

Evidence:
    The number of training forward passes in eval mode and in train mode.
    Re-run with model.train() before each training forward; confirmed when that
    halves the loss.
"""
from __future__ import annotations

from ...experiments.interventions import TrainMode
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "M001"
CATEGORY = "mode.eval"
TITLE = "The model trains in eval mode"
PRIORITY = 6
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
for epoch in range(epochs):
    model.eval(); validate(model)
    for x, y in train_loader:               # still in eval mode
        loss = criterion(model(x), y)
"""
FIXED = """\
for epoch in range(epochs):
    model.eval(); validate(model)
    model.train()
    for x, y in train_loader:
        loss = criterion(model(x), y)
"""


def check(ctx: Context):
    model = ctx.trace.model
    if model is None or model.eval_calls_with_grad == 0 or model.eval_calls_with_grad < model.training_calls:
        return []
    f = make_finding(
        __name__, severity="error", location=f"{model.var}.training == False",
        message=(f"{model.eval_calls_with_grad} training forward passes ran in eval mode (and "
                 f"{model.training_calls} in train mode): Dropout is off and BatchNorm uses frozen running "
                 "statistics while the model trains."),
        evidence={"eval_mode_training_forwards": model.eval_calls_with_grad,
                  "train_mode_forwards": model.training_calls},
        fix={"summary": "Call model.train() before training (after any validation in eval mode).",
             "code": f"{model.var}.train()"})
    f.plan_data["model_type"] = model.type
    return [f]


def plan(finding):
    return [Experiment([TrainMode(finding.plan_data["model_type"])])]


def conclude(finding, baseline, results):
    # in train mode Dropout adds noise to the training loss, so a re-run that does
    # not halve it leaves the finding standing on its evidence
    confirm_by_rerun(finding, baseline, results, refute=False)
