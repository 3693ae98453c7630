"""loss.target_shape: prediction and target shapes differ and broadcast silently.

What it detects:
    An element-wise loss (MSE, L1, Huber, BCE) called with a prediction and a
    target of different shapes, typically (N, 1) against (N,), which PyTorch
    broadcasts to (N, N) with only a warning.

Why training fails:
    After broadcasting, every prediction is compared with every target, not its
    own. The best the model can do is predict the mean target for everyone, so
    the loss sits at the targets' variance whatever the model learns.

Fix:
    Make the shapes equal: `target.view(-1, 1)` (or `pred.squeeze(1)`).

Evidence:
    The shapes at the loss call and the broadcast shape. Confirmed by re-running
    with the target reshaped to the prediction's shape.
"""
from __future__ import annotations

import math

import torch

from ...capture import curves
from ...experiments.interventions import ReshapeTarget
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding

CODE = "L003"
CATEGORY = "loss.target_shape"
TITLE = "Prediction and target shapes differ"
PRIORITY = 10
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
out = model(x)                 # (N, 1)
loss = nn.MSELoss()(out, y)    # y: (N,) -> broadcast to (N, N)
"""
FIXED = """\
loss = nn.MSELoss()(out, y.view(-1, 1))
"""
ELEMENTWISE = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
               "binary_cross_entropy_with_logits")


def check(ctx: Context):
    loss = ctx.trace.loss_info
    if loss is None or loss.kind not in ELEMENTWISE or loss.pred_shape == loss.target_shape:
        return []
    try:
        out = list(torch.broadcast_shapes(tuple(loss.pred_shape), tuple(loss.target_shape)))
    except RuntimeError:
        out = None                     # does not broadcast: torch raised, the script crashed
    if out is not None and math.prod(out) <= max(math.prod(loss.pred_shape), math.prod(loss.target_shape)):
        return []                      # e.g. one constant target for every prediction: no cross product
    observed = curves.tail(ctx.trace.curve())
    shape = "x".join(map(str, out)) if out else "an error"
    f = make_finding(
        __name__, severity="error", location=f"{loss.kind}(prediction {tuple(loss.pred_shape)}, target {tuple(loss.target_shape)})",
        message=(f"The loss compares a prediction of shape {tuple(loss.pred_shape)} with a target of shape "
                 f"{tuple(loss.target_shape)}; broadcasting turns that into {shape}, comparing every "
                 f"prediction with every target. The loss ends at {fmt(observed)}."),
        evidence={"pred_shape": loss.pred_shape, "target_shape": loss.target_shape, "broadcast_shape": out,
                  "observed_loss": observed},
        fix={"summary": "Give the target the prediction's shape.",
             "code": "loss = criterion(output, target.view_as(output))"})
    return [f]


def plan(finding):
    p, t = finding.evidence["pred_shape"], finding.evidence["target_shape"]
    return [Experiment([ReshapeTarget()])] if math.prod(p) == math.prod(t) else []


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, refute=False)
