"""capacity.no_nonlinearity: a purely linear stack asked to fit a nonlinear map.

What it detects:
    A model whose weight layers (Linear, Conv) follow each other with nothing
    nonlinear in between (no activation module, no functional activation), so
    the whole model is one affine map, possibly with a final squashing, and
    whose loss sits on the loss of the best affine model of the same data.

Why training fails:
    A product of linear maps is a linear map: stacking layers adds parameters
    but no expressive power. XOR, a parabola, a circle: no affine function fits
    them, and the loss plateaus at the best linear fit's loss.

Fix:
    Put a nonlinearity (nn.ReLU(), nn.Tanh()…) between the layers.

Evidence:
    The layers and how they connect, the best affine model's loss on the
    sampled inputs and targets (least squares or logistic regression), the
    constant predictor's loss, and the observed plateau. Confirmed by re-running
    with a ReLU applied after the first layer.
"""
from __future__ import annotations

from ...capture import curves
from ...experiments.interventions import Apply
from .. import fits
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding, module_where

CODE = "C002"
CATEGORY = "capacity.no_nonlinearity"
TITLE = "No nonlinearity between the layers"
PRIORITY = 20
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1), nn.Sigmoid())   # XOR
"""
FIXED = """\
model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
"""

WEIGHT = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
# modules that keep a map affine (in eval they all are; Dropout only rescales)
PASS = {"Dropout", "Flatten", "Unflatten", "Identity", "AvgPool1d", "AvgPool2d", "AvgPool3d"}
# the plateau counts as "on the linear floor" within 20% (the floor is fitted on a sample)
ON_FLOOR = 1.2
# a linear floor below 5% of the constant predictor's loss means a linear model
# already explains the data: nothing to gain from a nonlinearity
FLOOR_SHARE = 0.05


def linear_stack(leaves) -> list | None:
    """The weight layers, if every connection between the first and the last is affine."""
    idx = [i for i, l in enumerate(leaves) if l.type in WEIGHT]
    if len(idx) < 2:
        return None
    for i in range(idx[0] + 1, idx[-1] + 1):
        leaf, prev = leaves[i], leaves[i - 1]
        if leaf.type not in WEIGHT | PASS or leaf.input_from != prev.name:
            return None
    return [leaves[i] for i in idx]


def check(ctx: Context):
    trace, loss, model = ctx.trace, ctx.trace.loss_info, ctx.trace.model
    if loss is None or model is None or loss.pairs is None:
        return []
    layers = linear_stack(model.leaves)
    pairs = loss.pairs.sample()
    if layers is None or pairs is None or pairs.shape[0] < 4 or not loss.input_dim:
        return []
    x, t = pairs[:, :loss.input_dim], pairs[:, loss.input_dim:]
    kind = loss.kind
    if kind == "binary_cross_entropy" and (loss.final_op or "").startswith("Sigmoid"):
        kind = "binary_cross_entropy_with_logits"          # the same model: affine map, then sigmoid
    try:
        floor, const = fits.linear_loss(kind, x, t), fits.constant_loss(kind, t)
    except Exception:                                       # a loss these fits do not model
        return []
    observed = curves.tail(trace.curve())
    if not (const > 0 and floor / const >= FLOOR_SHARE and observed <= floor * ON_FLOOR):
        return []
    first = layers[0]
    where = module_where(trace, first.name, first.type)
    chain = " -> ".join(f"{l.type}" for l in layers)
    f = make_finding(
        __name__, severity="warning", location=f"{model.var} ({chain})",
        message=(f"The layers {chain} follow each other with no nonlinearity, so the model is one affine "
                 f"map. The best affine model of the sampled data reaches {fmt(floor)} (a constant "
                 f"prediction: {fmt(const)}); the loss ends at {fmt(observed)}, on that floor."),
        evidence={"weight_layers": len(layers), "linear_floor": floor, "constant_loss": const,
                  "observed_loss": observed},
        fix={"summary": f"Add an activation after {where}.",
             "code": "nn.Sequential(nn.Linear(...), nn.ReLU(), nn.Linear(...))  # a nonlinearity between the layers"})
    f.plan_data["apply"] = (model.type, first.name, "relu", where)
    return [f]


def plan(finding):
    return [Experiment([Apply(*finding.plan_data["apply"])])]


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results):
        finding.severity = "error"
