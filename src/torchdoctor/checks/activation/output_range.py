"""activation.output_range: the final activation cannot produce the target values.

What it detects:
    A regression loss (MSE, L1, Huber) on predictions that pass through a
    bounded final activation (Sigmoid, Tanh, ReLU, Softplus, Hardtanh/ReLU6,
    ELU, Softmax) while a substantial share of the targets lies outside that
    activation's range.

Why training fails:
    A target outside the range can at best be matched by the nearest value
    inside it, so the loss can never fall below the mean distance (squared, for
    MSE) from each target to the range. For Sigmoid on N(0,1) targets 66% of
    the targets lie outside (0, 1) and the MSE floor is about 0.575, however
    long the model trains.

Fix:
    Remove the final activation (a linear output) or rescale the targets into
    the activation's range.

Evidence:
    The activation and its range, the share of sampled targets outside it, the
    loss floor no model behind that activation can beat, and the observed loss.
    Confirmed by re-running the training with the activation bypassed (a
    forward hook returning its input): the loss then falls below the floor.
"""
from __future__ import annotations

import math

import torch

from ...capture import curves
from ...experiments.interventions import Bypass
from ..base import CONFIRM_FACTOR, Context, Experiment, fmt, improvement, make_finding, record_tests

CODE = "A001"
CATEGORY = "activation.output_range"
TITLE = "The final activation cannot produce the targets"
PRIORITY = 20
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(10, 10), nn.Sigmoid())
loss = nn.MSELoss()(model(x), y)          # y ~ N(0, 1): two thirds outside (0, 1)
"""
FIXED = """\
model = nn.Sequential(nn.Linear(10, 10))  # linear output for unbounded targets
"""

REGRESSION_LOSSES = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
# Reported only when the floor is at least 5% of the loss of predicting the
# targets' mean: below that the bounded output still explains 95% of it (e.g. a
# Sigmoid on pixel targets in [0, 1], whose floor is 0).
FLOOR_SHARE = 0.05
# As capacity.bottleneck: a loss within 25% of the floor sits on it.
ON_FLOOR = 1.25
# Targets within 1e-6 of a bound count as inside (pixels at exactly 0 or 1).
TOL = 1e-6
# Bins of the targets' histogram in the report's plot: 30 resolve a normal's shape
# (sqrt of the ~1000 sampled targets, the square-root rule).
HIST_BINS = 30

INF = math.inf
# autograd node (trailing digits removed) -> activation name, as the module class is called
NODES = {"SigmoidBackward": "Sigmoid", "TanhBackward": "Tanh", "ReluBackward": "ReLU",
         "SoftplusBackward": "Softplus", "HardtanhBackward": "Hardtanh", "EluBackward": "ELU",
         "SoftmaxBackward": "Softmax", "HardsigmoidBackward": "Hardsigmoid",
         "ExpBackward": "exp", "AbsBackward": "abs"}


def activation_range(name: str, attrs: dict) -> tuple[float, float] | None:
    """The closed range of an activation's outputs, or None if unbounded/unknown."""
    if name in ("Sigmoid", "Hardsigmoid", "Softmax"):
        return (0.0, 1.0)
    if name == "Tanh":
        return (-1.0, 1.0)
    if name in ("ReLU", "Softplus", "exp", "abs"):
        return (0.0, INF)
    if name == "ReLU6":
        return (0.0, 6.0)
    if name == "Hardtanh":
        return (float(attrs.get("min_val", -1.0)), float(attrs.get("max_val", 1.0)))
    if name == "ELU":
        return (-float(attrs.get("alpha", 1.0)), INF)
    return None


def project_simplex(t: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of t (R, C) onto the probability simplex."""
    u, _ = torch.sort(t, dim=1, descending=True)
    css = u.cumsum(1) - 1
    k = torch.arange(1, t.shape[1] + 1, dtype=t.dtype)
    rho = ((u - css / k) > 0).sum(1, keepdim=True).clamp(min=1)        # (R, 1)
    theta = css.gather(1, rho - 1) / rho
    return (t - theta).clamp(min=0)


def elementwise(kind: str, d: torch.Tensor) -> torch.Tensor:
    """The loss of each element for a prediction error d."""
    if kind == "mse_loss":
        return d ** 2
    if kind == "l1_loss":
        return d.abs()
    a = d.abs()                                      # Huber / smooth L1 with delta = beta = 1 (the defaults)
    return torch.where(a < 1, 0.5 * d ** 2, a - 0.5)


def histogram(t, rng) -> dict:
    """The sampled targets' histogram, {"edges": [HIST_BINS + 1], "counts": [HIST_BINS]}, over
    a span that shows both the targets and the activation's range (for the report's plot)."""
    flat = t.detach().flatten().float()
    lo, hi = float(flat.min()), float(flat.max())
    lo, hi = min(lo, rng[0]) if math.isfinite(rng[0]) else lo, max(hi, rng[1]) if math.isfinite(rng[1]) else hi
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(flat, bins=HIST_BINS, min=lo, max=hi)
    edges = torch.linspace(lo, hi, HIST_BINS + 1)
    return {"edges": [float(x) for x in edges], "counts": [int(c) for c in counts]}


def check(ctx: Context):
    """Each regression loss of the run (a model with several heads has several)."""
    losses = [l for l in ctx.trace.losses if l.kind in REGRESSION_LOSSES and l.targets is not None]
    out = []
    for loss in sorted(losses, key=lambda l: -l.calls):          # the most called (the main one) first
        out.extend(check_loss(ctx, loss, several=len(ctx.trace.losses) > 1))
    return out


def check_loss(ctx: Context, loss, several: bool):
    """One loss: `several` when the run has other losses too, so the observed loss (their
    sum) cannot be compared with this one's floor."""
    trace, model = ctx.trace, ctx.trace.model
    targets = loss.targets.sample()                                      # (R, F)
    if targets is None or targets.shape[0] < 2:
        return []
    final = loss.final_module
    name = final.type if final is not None else NODES.get((loss.final_op or "").rstrip("0123456789"))
    if name is None:
        return []
    rng = activation_range(name, final.attrs if final is not None else {})
    if rng is None:
        return []
    t = targets.double()
    if name == "Softmax":
        nearest = project_simplex(t)
    else:
        nearest = t.clamp(rng[0], rng[1])
    outside = (t - nearest).abs() > TOL
    share_outside = float(outside.any(1).float().mean() if name == "Softmax" else outside.float().mean())
    floor_elem = float(elementwise(loss.kind, nearest - t).mean())
    center = t.mean(0) if loss.kind == "mse_loss" else t.median(0).values
    baseline = float(elementwise(loss.kind, center - t).mean())
    if baseline <= 0 or floor_elem / baseline < FLOOR_SHARE:
        return []
    per_example = t.shape[1]
    floor = floor_elem if loss.reduction == "mean" else floor_elem * per_example * (loss.pred_shape or [1])[0]
    observed = curves.tail(trace.curve())
    on_floor = math.isfinite(observed) and observed <= floor * ON_FLOOR and not several
    var = model.var if model is not None else "model"
    where = f"{var}.{final.name} ({final.type})" if final is not None else f"{name} in {var}.forward"
    lo, hi = rng
    rtext = f"[{lo:g}, {hi:g}]" if hi < INF else f"[{lo:g}, inf)"
    if name == "Softmax":
        rtext = "the probability simplex"
    term = f"its {loss.kind} term" if several else "the loss"
    msg = (f"The prediction passes through {name} (outputs in {rtext}) but {share_outside:.0%} of the targets lie "
           f"outside it, so no model can get {term} below {fmt(floor)}. The loss ends at {fmt(observed)}"
           + (", on that floor." if on_floor else "."))
    f = make_finding(
        __name__, severity="error", message=msg, location=where,
        evidence={"activation": name, "range": [lo, hi], "targets_outside_range": share_outside,
                  "loss_floor": floor, "floor_share": floor_elem / baseline, "observed_loss": observed,
                  "targets_sampled": int(t.shape[0]), "target_histogram": histogram(t, rng)},
        fix={"summary": f"Remove the final {name} (use a linear output) or scale the targets into {rtext}.",
             "code": f"# delete {where} from the model: the last layer's raw output is the prediction"})
    if on_floor:
        f.confidence = "confirmed"
        f.verified = {"method": "analytic", "metric": "loss at the end vs the floor",
                      "before": observed, "after": floor,
                      "change": f"none needed: the loss sits on the floor of any {name} output"}
    # addressable for a re-run only when a module (not a functional call) produced the output
    if loss.final_module_id:
        f.plan_data["bypass"] = (*loss.final_module_id, name, f"{final.type} at {var}.{final.name}")
    return [f]


def plan(finding):
    where = finding.plan_data.get("bypass")
    if not where:
        return []
    model_type, name, module_type, shown_as = where
    return [Experiment([Bypass(model_type, name, module_type, shown_as)])]


def conclude(finding, baseline, results):
    record_tests(finding, baseline, results)
    exp, run = results[0]
    before, after = baseline.end, run.end
    floor = finding.evidence["loss_floor"]
    if run.ok and math.isfinite(after) and (after < floor or improvement(before, after) >= CONFIRM_FACTOR):
        finding.confidence = "confirmed"
        finding.verified = {"method": "counterfactual", "metric": f"loss after {run.steps} steps",
                            "before": before, "after": after, "change": exp.label}
