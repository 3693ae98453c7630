"""graph.detached: the loss does not reach parameters that the optimizer trains.

What it detects:
    Parameters held by the optimizer, requiring a gradient, whose module runs in
    the forward pass, yet which never receive a gradient, because the loss's
    autograd graph does not reach them: a .detach(), .data, .item(), a NumPy
    round trip or a torch.no_grad() block cuts the path.

Why training fails:
    No gradient, no update: everything before the cut keeps its random
    initialisation, and only the layers after it learn.

Fix:
    Remove the cut: keep the computation in torch with autograd on between the
    parameters and the loss (no .detach(), .data, .numpy(), or no_grad there).

Evidence:
    The parameters by name that never got a gradient in the sampled steps,
    while the loss reached others.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "G001"
CATEGORY = "graph.detached"
TITLE = "The loss does not reach some trained parameters"
PRIORITY = 5
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
feats = self.encoder(x).detach()
return self.head(feats)
"""
FIXED = """\
feats = self.encoder(x)
return self.head(feats)
"""


def _module_of(param_name: str) -> str:
    return param_name.rsplit(".", 1)[0].split(".", 1)[-1] if "." in param_name else ""


def check(ctx: Context):
    trace = ctx.trace
    model = trace.model
    ran = {leaf.name for m in trace.models for leaf in m.leaves}
    cut = sorted([p for p in trace.params if p.in_optimizer and p.requires_grad and p.grad_checks > 0
           and p.got_grad == 0 and not p.reached and _module_of(p.name) in ran], key=lambda p: p.name)
    if not cut or model is None:
        return []
    names = [p.name for p in cut]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    reached = sum(p.reached for p in trace.params)
    return [make_finding(
        __name__, severity="error", location=shown,
        message=(f"{len(cut)} parameter tensors run in the forward pass and are in the optimizer, but the "
                 f"loss's autograd graph does not reach them (no gradient in {cut[0].grad_checks} sampled "
                 f"steps), so they never learn: {shown}. Something between them and the loss detaches "
                 f"the tensor (.detach(), .data, .item(), NumPy, no_grad)."),
        evidence={"no_gradient": names, "reached_by_loss": reached, "steps_checked": cut[0].grad_checks},
        fix={"summary": "Remove the detach between these layers and the loss.",
             "code": "features = self.encoder(x)  # not .detach(), .data or a no_grad() block"})]
