"""optim.params_missing: parameters the loss depends on are in no optimizer.

What it detects:
    Tensors that require a gradient, that the loss's autograd graph reaches,
    and that no optimizer holds: layers kept in a plain Python list (not
    nn.ModuleList), or an optimizer built before a layer was replaced.

Why training fails:
    Those parameters get gradients but are never updated: part of the model
    stays at its random initialisation and the loss plateaus high.

Fix:
    Register the layers (nn.ModuleList / nn.ModuleDict instead of list / dict)
    and build the optimizer after the model is final, from model.parameters().

Evidence:
    The parameters by name, how many values they hold, and their share of what
    the loss reaches. Confirmed by re-running with them added to the optimizer.
"""
from __future__ import annotations

import math

from ...experiments.interventions import AddMissingParams
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "O004"
CATEGORY = "optim.params_missing"
TITLE = "Parameters the loss depends on are in no optimizer"
PRIORITY = 5
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
self.hidden = [nn.Linear(8, 32), nn.Linear(32, 32)]   # plain list
optimizer = torch.optim.Adam(model.parameters())
"""
FIXED = """\
self.hidden = nn.ModuleList([nn.Linear(8, 32), nn.Linear(32, 32)])
"""


def check(ctx: Context):
    trace = ctx.trace
    if not trace.optimizers:
        return []
    missing = sorted((p for p in trace.params if p.reached and p.requires_grad and not p.in_optimizer),
                     key=lambda p: p.name)
    if not missing:
        return []
    n = sum(math.prod(p.shape) for p in missing)
    total = sum(math.prod(p.shape) for p in trace.params if p.reached and p.requires_grad)
    names = [p.name for p in missing]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [make_finding(
        __name__, severity="error", location=shown,
        message=(f"{len(missing)} parameter tensors ({n} values, {n / total:.0%} of what the loss depends on) "
                 f"get gradients but are in no optimizer, so they never train: {shown}."),
        evidence={"missing": names, "missing_values": n, "share": n / total},
        fix={"summary": "Register the layers (nn.ModuleList, not a list) and build the optimizer from model.parameters() after the model is final.",
             "code": "self.hidden = nn.ModuleList([...])  # was a plain list\noptimizer = torch.optim.Adam(model.parameters())"})]


def plan(finding):
    return [Experiment([AddMissingParams()])]


def conclude(finding, baseline, results):
    confirm_by_rerun(finding, baseline, results, refute=False)
