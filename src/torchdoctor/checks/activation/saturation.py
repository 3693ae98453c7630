"""activation.saturation: hidden sigmoid/tanh units pinned at their limits.

What it detects:
    A hidden Sigmoid or Tanh layer (not the model's output) where more than
    half of the pre-activations lie beyond +-4 over a window of sampled batches.

Why training fails:
    Beyond +-4 the slope of sigmoid is below 0.02 and that of tanh below
    0.0014: gradients through the layer all but vanish and the layers before
    it stop learning.

Fix:
    Normalise the inputs, initialise with Xavier/Glorot, add BatchNorm/LayerNorm
    before the activation, lower the learning rate, or use ReLU/GELU.

Evidence:
    The layer and the share of its pre-activations beyond +-4.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "A002"
CATEGORY = "activation.saturation"
TITLE = "Hidden sigmoid/tanh units are saturated"
PRIORITY = 35
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
x = torch.randn(n, 10) * 50                   # unnormalised inputs
model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
"""
FIXED = """\
x = (x - x.mean(0)) / x.std(0)
model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
"""

SATURATED_SHARE = 0.5     # more than half of the pre-activations beyond +-4 (hooks.SATURATED)


def check(ctx: Context):
    trace = ctx.trace
    model, loss = trace.model, trace.loss_info
    final = loss.final_module.name if loss is not None and loss.final_module is not None else None
    for key, st in trace.activations.items():
        share = st.get("saturated")
        name = key.split(".", 1)[1] if "." in key else key
        if st["type"] == "ReLU" or share is None or share <= SATURATED_SHARE or name == final:
            continue
        return [make_finding(
            __name__, severity="warning", location=f"{key} ({st['type']})",
            message=(f"{share:.0%} of the inputs to {key} ({st['type']}) lie beyond +-4, where its slope is "
                     "almost zero: gradients through this layer vanish."),
            evidence={"saturated_share": share, "units": st["units"]},
            fix={"summary": "Normalise the inputs, use Xavier init or a norm layer before the activation.",
                 "code": "nn.Sequential(nn.Linear(10, 32), nn.LayerNorm(32), nn.Tanh(), ...)"})]
    return []
