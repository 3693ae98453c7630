"""init.symmetric: all weights of a layer start equal, so its units stay identical.

What it detects:
    A hidden weight layer whose rows are all identical at the first forward
    pass (constant or zero initialisation), feeding a layer whose own weights
    are identical too, so nothing can tell its units apart.

Why training fails:
    Identical units compute the same output and receive the same gradient, so
    they stay identical forever: a layer of 64 units behaves like one unit.
    The model underfits, however long it trains.

Fix:
    Use random initialisation (the default of nn.Linear / nn.Conv; or
    nn.init.kaiming_uniform_ / xavier_uniform_); constant init only for biases.

Evidence:
    The layers with identical rows, their number of units and the constant.
    Confirmed by re-running with those layers randomly re-initialised.
"""
from __future__ import annotations

from ...experiments.interventions import Reinit
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "I001"
CATEGORY = "init.symmetric"
TITLE = "Weights start symmetric (all equal)"
PRIORITY = 8
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 0.05)
"""
FIXED = """\
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)
        nn.init.zeros_(m.bias)
"""


def check(ctx: Context):
    model = ctx.trace.model
    if model is None or len(model.symmetric) < 1:
        return []
    weight_layers = [l.name for l in model.leaves if l.type.startswith(("Linear", "Conv"))]
    sym = {s["name"]: s for s in model.symmetric}
    # a symmetric hidden layer stays symmetric only if the next layer cannot break the tie
    hidden = [sym[n] for i, n in enumerate(weight_layers[:-1]) if n in sym and weight_layers[i + 1] in sym]
    if not hidden:
        return []
    names = [s["name"] for s in hidden]
    desc = ", ".join(f"{model.var}.{s['name']} ({s['units']} units, all weights {s['value']:g})" for s in hidden)
    f = make_finding(
        __name__, severity="error", location=", ".join(f"{model.var}.{n}" for n in names),
        message=(f"Every unit of {desc} starts with the same weights, and so does the next layer: the units "
                 "get identical gradients and stay identical, so each layer acts as a single unit."),
        evidence={"layers": names, "units": [s["units"] for s in hidden], "value": [s["value"] for s in hidden]},
        fix={"summary": "Initialise weights randomly (the nn.Linear default), constants only for biases.",
             "code": "nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)  # not nn.init.constant_(m.weight, c)"})
    f.plan_data["reinit"] = (model.type, [s["name"] for s in model.symmetric])
    return [f]


def plan(finding):
    model_type, names = finding.plan_data["reinit"]
    return [Experiment([Reinit(model_type, names)])]


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, refute=False)
