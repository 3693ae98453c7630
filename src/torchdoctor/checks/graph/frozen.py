"""graph.frozen: the parameters meant to train have requires_grad=False.

What it detects:
    An optimizer whose parameters all have requires_grad=False, so nothing it
    holds can train (frozen by a loop meant for a backbone, or by
    torch.no_grad-built tensors).

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


def check(ctx: Context):
    trace = ctx.trace
    held = [p for p in trace.params if p.in_optimizer]
    if not held or any(p.requires_grad for p in held):
        return []
    names = [p.name for p in held]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [make_finding(
        __name__, severity="error", location=shown,
        message=f"Every parameter the optimizer holds ({len(held)} tensors) has requires_grad=False: nothing can train.",
        evidence={"frozen": names},
        fix={"summary": "Unfreeze the layers to train and give those to the optimizer.",
             "code": "for p in model.head.parameters():\n    p.requires_grad = True\noptimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)"})]
