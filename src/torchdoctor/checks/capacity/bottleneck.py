"""capacity.bottleneck: a layer narrower than the target caps what the model can represent.

What it detects:
    A regression model (MSE loss) whose narrowest layer has k units while each
    target has d > k values, and whose predictions really are confined to k
    dimensions (their measured rank is at most k), so nothing routes around it;
    or, behind a nonlinear decoder, a plain chain of layers through the narrow
    one whose loss sits on the rank-k floor (then the floor is an estimate and
    the finding a warning).

Why training fails:
    Every prediction is an affine function of k numbers, so the predictions span
    at most k directions. The best such fit loses the variance of the targets
    outside their top-k principal directions (Eckart-Young): the sum of the d-k
    smallest eigenvalues of the targets' covariance, over d for a mean-reduced
    MSE. For a 10-d N(0,1) identity through 5 units that is 5/10 = 0.50, and the
    loss plateaus there whatever the optimizer or the number of steps.

Fix:
    Widen the narrow layer to at least the target's dimension d (or to the
    number of principal components the targets really need).

Evidence:
    The narrowest width and where it is, the target dimension, the rank-k loss
    floor computed from the sampled targets, the share of the targets' variance
    that floor represents, the rank of the predictions, and the observed plateau.
    A plateau that sits on the floor confirms the finding analytically.
"""
from __future__ import annotations

import math

import torch

from ...capture import curves
from ...experiments.surgery import widen_plan
from ..base import CONFIRM_FACTOR, Context, Experiment, fmt, improvement, make_finding, record_tests

CODE = "C001"
CATEGORY = "capacity.bottleneck"
TITLE = "A layer narrower than the target caps the model"
PRIORITY = 20
CONFIRMATION = "analytic+widen"   # re-run | analytic | analytic+widen | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10))
loss = nn.MSELoss()(model(x), x)          # 10-d identity through 5 units
"""
FIXED = """\
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))
"""

# Only a floor worth at least 5% of the targets' variance is reported: below
# that the model still explains 95% of the variance (R^2 >= 0.95), as healthy
# autoencoders on low-rank data do (their floor share is ~0).
FLOOR_SHARE = 0.05
# The plateau "sits on the floor" within 25%: the floor is computed on a sample
# of a few thousand targets, and ReLU paths lose a little more than linear ones.
ON_FLOOR = 1.25
# Singular values below 1e-4 of the largest are float32 round-off, not directions.
RANK_TOL = 1e-4
# Width of the widened copy, in multiples of the target dimension: a ReLU layer of
# 2d units represents the d-dimensional identity exactly (relu(x) - relu(-x)).
WIDEN_FACTOR = 2


def single_path(leaves, narrow) -> bool:
    """Every leaf after `narrow` takes the previous leaf's output as its input: a plain
    chain to the output, with no skip connection around the narrow layer."""
    i = next(i for i, l in enumerate(leaves) if l is narrow)
    return all(leaves[j].input_from == leaves[j - 1].name for j in range(i + 1, len(leaves)))


def check(ctx: Context):
    trace = ctx.trace
    loss, model = trace.loss_info, trace.model
    if loss is None or model is None or loss.kind != "mse_loss" or loss.targets is None:
        return []
    targets, preds = loss.targets.sample(), loss.last_preds
    if targets is None or preds is None or not loss.pred_shape:
        return []
    d = targets.shape[1]
    batch = loss.pred_shape[0]
    # widths (features per example) of the leaf outputs that carry the batch dimension
    path = [(leaf, math.prod(leaf.out_shape[1:])) for leaf in model.leaves
            if leaf.out_shape and len(leaf.out_shape) >= 2 and leaf.out_shape[0] == batch]
    if not path:
        return []
    narrow, k = min(path, key=lambda lw: lw[1])
    if k >= d or targets.shape[0] <= d or preds.shape[0] <= k + 1:
        return []
    centered = preds - preds.mean(0)                                    # (R, d)
    s = torch.linalg.svdvals(centered.double())
    rank = int((s > s[0] * RANK_TOL).sum()) if s.numel() and s[0] > 0 else 0
    estimate = rank > k
    if estimate and not single_path(model.leaves, narrow):
        return []                                   # something (a skip connection) routes around it
    cov = torch.cov(targets.double().T)                                 # (d, d)
    eig = torch.linalg.eigvalsh(cov).clamp(min=0)                       # ascending
    lost, total = float(eig[:d - k].sum()), float(eig.sum())
    if total <= 0 or lost / total < FLOOR_SHARE:
        return []
    floor = lost / d if loss.reduction == "mean" else lost * batch
    observed = curves.tail(trace.curve())
    on_floor = math.isfinite(observed) and observed <= floor * ON_FLOOR
    if estimate and not on_floor:
        return []                                   # a nonlinear decoder beat the linear floor: not binding
    where = f"{model.var}.{narrow.name} ({narrow.type})"
    if estimate:
        msg = (f"{where} has {k} units but each target has {d} values, and every path to the output goes "
               f"through it. A linear map through {k} units cannot get the loss below {fmt(floor)} "
               f"({lost / total:.0%} of the targets' variance; the nonlinear layers after it can do somewhat "
               f"better, so this is an estimate). The loss ends at {fmt(observed)}, at that level.")
    else:
        msg = (f"{where} has {k} units but each target has {d} values: predictions are confined to "
               f"{rank} dimensions, and no rank-{k} map can get the loss below {fmt(floor)} "
               f"({lost / total:.0%} of the targets' variance). The loss ends at {fmt(observed)}"
               + (", on that floor." if on_floor else "."))
    in_f = narrow.attrs.get("in_features")
    code = (f"nn.Linear({in_f}, {d})  # was nn.Linear({in_f}, {k}); widen the next layer's input too"
            if narrow.type == "Linear" and in_f else f"# widen {where} to at least {d} units")
    f = make_finding(
        __name__, severity="error" if on_floor and not estimate else "warning",
        message=msg, location=where,
        evidence={"narrowest_width": k, "target_dim": d, "loss_floor": floor,
                  "floor_share": lost / total, "prediction_rank": rank,
                  "observed_loss": observed, "plateau_on_floor": on_floor, "floor_is_estimate": estimate,
                  "targets_sampled": int(targets.shape[0])},
        fix={"summary": f"Widen {where} from {k} to at least {d} units.", "code": code})
    if on_floor and not estimate:
        f.confidence = "confirmed"
        f.verified = {"method": "analytic", "metric": f"loss at the end vs the best rank-{k} loss",
                      "before": observed, "after": floor,
                      "change": f"none needed: the plateau sits on the floor of any rank-{k} model"}
    if ctx.owns_model:
        widen = widen_plan(model.leaves, narrow, model.type, WIDEN_FACTOR * d, shown_as=where)
        if widen is not None:
            f.plan_data["widen"] = widen
    return [f]


def plan(finding):
    """Only where the tool owns the model: the same training with the narrow layer widened."""
    widen = finding.plan_data.get("widen")
    return [Experiment([widen])] if widen is not None else []


def conclude(finding, baseline, results):
    record_tests(finding, baseline, results)
    exp, run = results[0]
    if not (run.ok and baseline.ok):
        return
    before, after = baseline.end, run.end
    gain = improvement(before, after)
    if gain >= CONFIRM_FACTOR:
        finding.confidence = "confirmed"
        finding.severity = "error"
        finding.verified = {"method": "counterfactual", "metric": f"loss after {run.steps} steps",
                            "before": before, "after": after, "change": exp.label}
        finding.message += (f" Confirmed: with {exp.label} the same training reaches {fmt(after)} "
                            f"instead of {fmt(before)}.")
    elif finding.confidence == "confirmed":          # analytic: the floor stands, say what the re-run saw
        finding.message += f" ({exp.label}: {fmt(after)} vs {fmt(before)}, no better.)"
    else:
        finding.confidence, finding.severity = "refuted", "info"
        finding.message = f"Not confirmed ({exp.label}: {fmt(after)} vs {fmt(before)}). " + finding.message
