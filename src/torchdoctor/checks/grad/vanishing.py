"""grad.vanishing: gradients in early layers are orders of magnitude smaller than in late layers.

What it detects:
    A model with at least three weight layers whose first layer's relative
    gradient (gradient norm / weight norm) is, in the median of the sampled
    steps, 1000 times smaller than its last layer's.

Why training fails:
    Each layer multiplies the backward signal by its local slope; with
    saturating activations or poor initialisation these products shrink
    geometrically, so the early layers barely change and the network behaves
    like its last layers alone.

Fix:
    Use ReLU/GELU instead of sigmoid/tanh in deep stacks, Kaiming init,
    normalisation layers, or residual connections.

Evidence:
    The first and last weight layers and their median gradient/weight ratios.
"""
from __future__ import annotations

import statistics

from ..base import Context, make_finding

CODE = "V002"
CATEGORY = "grad.vanishing"
TITLE = "Gradients vanish in the early layers"
PRIORITY = 60
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
layers = [nn.Linear(32, 32), nn.Sigmoid()] * 10     # a deep sigmoid stack
model = nn.Sequential(*layers, nn.Linear(32, 1))
"""
FIXED = """\
layers = [nn.Linear(32, 32), nn.ReLU()] * 10
model = nn.Sequential(*layers, nn.Linear(32, 1))
"""

RATIO = 1e-3      # three orders of magnitude, as TAXONOMY.md's "orders of magnitude smaller"
MIN_LAYERS = 3


def check(ctx: Context):
    grads = {k: v for k, v in ctx.trace.layer_grads.items() if v}
    if len(grads) < MIN_LAYERS:
        return []
    names = list(grads)                              # optimizer order: input side first
    first, last = names[0], names[-1]
    a, b = statistics.median(grads[first]), statistics.median(grads[last])
    if a <= 0 or b <= 0 or a / b >= RATIO:
        return []                                    # no gradient at all is graph.detached's business
    return [make_finding(
        __name__, severity="warning", location=f"{first} ... {last}",
        message=(f"The first layer's gradient is {b / a:,.0f}x smaller (relative to its weights) than the "
                 f"last layer's: {first} {a:.2e} vs {last} {b:.2e}. The early layers barely learn."),
        evidence={"first_layer": first, "first_ratio": a, "last_layer": last, "last_ratio": b},
        fix={"summary": "Use ReLU-family activations, Kaiming init, normalisation or residual connections.",
             "code": "nn.ReLU()  # instead of nn.Sigmoid() between deep layers"})]
