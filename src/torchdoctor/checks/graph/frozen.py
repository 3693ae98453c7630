"""graph.frozen: the parameters meant to train have requires_grad=False.

What it detects:
    An optimizer whose parameters all have requires_grad=False, so nothing it
    holds can train, or one whose values are 90% or more frozen while the
    loss barely moves (a freezing loop that caught the layers meant to train).

Why training fails:
    Frozen tensors get no gradient; the optimizer steps over nothing and the
    loss never moves (or backward() fails because nothing requires a gradient).

Fix:
    Set requires_grad=True on the layers to train (e.g. only the new head after
    freezing a backbone) and pass those to the optimizer.

Evidence:
    The frozen parameters by name and the optimizer that holds them.
"""
from __future__ import annotations

import math

from ...capture import curves
from ..base import Context, make_finding

CODE = "G002"
CATEGORY = "graph.frozen"
TITLE = "The optimizer holds only frozen parameters"
PRIORITY = 5
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
for p in model.parameters():
    p.requires_grad = False
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
"""
FIXED = """\
for p in model.backbone.parameters():
    p.requires_grad = False
optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
"""


# Nearly all (90%) of what the optimizer holds frozen, while the loss keeps more
# than half of its start: a freezing loop that caught the layers meant to train.
# (A frozen backbone with a learning head makes progress, and is not reported.)
FROZEN_SHARE = 0.9
STALLED = 0.5


def check(ctx: Context):
    trace = ctx.trace
    held = [p for p in trace.params if p.in_optimizer]
    if not held:
        return []
    size = lambda p: math.prod(p.shape) or 1                                   # noqa: E731
    frozen = [p for p in held if not p.requires_grad]
    share = sum(size(p) for p in frozen) / sum(size(p) for p in held)
    if len(frozen) < len(held):
        series = trace.curve()
        c = curves.summarize(series) if series.count >= 20 else None
        if not (share >= FROZEN_SHARE and c is not None and c.start > 0 and c.end >= STALLED * c.start):
            return []
        names = [p.name for p in frozen]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        return [make_finding(
            __name__, severity="warning", location=shown,
            message=(f"{share:.0%} of the values the optimizer holds are frozen (requires_grad=False) and the "
                     f"loss barely moved ({c.start:.3g} to {c.end:.3g}): only "
                     f"{len(held) - len(frozen)} small tensor(s) can train."),
            evidence={"frozen": names, "frozen_share": share},
            fix={"summary": "Unfreeze the layers meant to train.",
                 "code": "for p in model.head.parameters():\n    p.requires_grad = True"})]
    names = [p.name for p in held]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [make_finding(
        __name__, severity="error", location=shown,
        message=f"Every parameter the optimizer holds ({len(held)} tensors) has requires_grad=False: nothing can train.",
        evidence={"frozen": names},
        fix={"summary": "Unfreeze the layers to train and give those to the optimizer.",
             "code": "for p in model.head.parameters():\n    p.requires_grad = True\noptimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)"})]
