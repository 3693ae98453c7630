"""regularization.dropout: dropout so strong the model cannot fit even the training data.

What it detects:
    Dropout with p >= 0.8, or p >= 0.5 in a run whose loss stays above half of
    where it started, confirmed by re-running with the dropout layers bypassed, which
    reaches a far lower training loss in the same steps.

Why training fails:
    Each step sees a random small fraction of the units; with a high rate on
    a small layer the signal that survives is too weak and too noisy to fit.

Fix:
    Lower the dropout rate (0.1-0.3 is common), drop it from small layers,
    or widen the layers it is applied to.

Evidence:
    The dropout layers and rates, the loss at the start and the end, and the
    loss the re-run without dropout reaches.
"""
from __future__ import annotations

from ...capture import curves
from ...experiments.interventions import Bypass
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding

CODE = "R001"
CATEGORY = "regularization.dropout"
TITLE = "Dropout is too strong"
PRIORITY = 25
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Dropout(0.9), nn.Linear(8, 1))
"""
FIXED = """\
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1))
"""

HIGH_P = 0.5          # at or above half the units dropped...
NO_PROGRESS = 0.5     # ...while the loss stays above half of its start (lr_too_low.NO_PROGRESS)
EXTREME_P = 0.8       # 4 units in 5 dropped: tested whatever the loss did


def check(ctx: Context):
    model = ctx.trace.model
    if model is None:
        return []
    drops = [l for l in model.leaves if l.type.startswith("Dropout") and l.attrs.get("p", 0) >= HIGH_P and l.training]
    c = curves.summarize(ctx.trace.curve()) if ctx.trace.curve().count >= 20 else None
    extreme = any(l.attrs["p"] >= EXTREME_P for l in drops)
    if not drops or c is None or not (c.start > 0 and (extreme or c.end >= NO_PROGRESS * c.start)):
        return []
    ps = ", ".join(f"{model.var}.{l.name} (p={l.attrs['p']:g})" for l in drops)
    f = make_finding(
        __name__, severity="warning", location=ps,
        message=(f"Suspected: dropout {ps} while the loss only went from {fmt(c.start)} to {fmt(c.end)}."),
        evidence={"dropout_p": [l.attrs["p"] for l in drops], "loss_start": c.start, "loss_end": c.end},
        fix={"summary": "Lower the dropout rate (0.1-0.3) or widen the layers.", "code": "nn.Dropout(0.1)"})
    f.plan_data["bypass"] = [(model.type, l.name, l.type, f"{l.type} at {model.var}.{l.name}") for l in drops]
    return [f]


def plan(finding):
    return [Experiment([Bypass(*b) for b in finding.plan_data["bypass"]])]


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results):
        finding.severity = "error"
        finding.message = finding.message.replace("Suspected: ", "")
