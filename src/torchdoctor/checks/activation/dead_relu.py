"""activation.dead_relu: most units of a ReLU layer output zero for every input.

What it detects:
    A hidden ReLU layer where at least half of the units never fired (output
    > 0) for any example over a window of sampled batches near the end.

Why training fails:
    A ReLU unit whose input is negative for every example outputs 0 and gets a
    zero gradient: it can never come back. A layer of mostly dead units passes
    almost nothing on, and the loss plateaus. Large learning rates and strongly
    negative biases kill units.

Fix:
    Lower the learning rate, initialise with Kaiming (He) init, or use a leaky
    activation (nn.LeakyReLU, nn.GELU) that keeps a gradient below zero.

Evidence:
    The layer, its number of units, the share that never fired. Confirmed by
    re-running with that ReLU replaced by a LeakyReLU.
"""
from __future__ import annotations

from ...experiments.interventions import Bypass
from ..base import Context, Experiment, confirm_by_rerun, make_finding

CODE = "A003"
CATEGORY = "activation.dead_relu"
TITLE = "Most ReLU units are dead"
PRIORITY = 30
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
nn.init.constant_(model[0].bias, -10.0)     # every unit starts below zero
"""
FIXED = """\
model = nn.Sequential(nn.Linear(10, 64), nn.LeakyReLU(0.01), nn.Linear(64, 1))
"""

# "Most units" (TAXONOMY.md): half or more. Healthy ReLU nets keep well over half alive.
DEAD_SHARE = 0.5


def check(ctx: Context):
    model = ctx.trace.model
    if model is None:
        return []
    out = []
    for key, st in ctx.trace.activations.items():
        share = st.get("dead_share")
        if st["type"] != "ReLU" or share is None or share < DEAD_SHARE or st["units"] < 4:
            continue
        name = key.split(".", 1)[1] if "." in key else key
        f = make_finding(
            __name__, severity="warning", location=f"{key} (ReLU)",
            message=(f"Suspected: {share:.0%} of the {st['units']} units of {key} never fired over the last "
                     "sampled batches: they output 0 and get no gradient."),
            evidence={"units": st["units"], "dead_share": share},
            fix={"summary": "Lower the lr, use Kaiming init, or a leaky activation.",
                 "code": "nn.LeakyReLU(0.01)  # instead of nn.ReLU()"})
        f.plan_data["bypass"] = (model.type, name, "ReLU", f"ReLU at {key}", "leaky_relu")
        out.append(f)
        break                                   # the first dead layer starves the rest
    return out


def plan(finding):
    return [Experiment([Bypass(*finding.plan_data["bypass"])])]


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results):
        finding.severity = "error"
        finding.message = finding.message.replace("Suspected: ", "")
