"""Walk the autograd graph of a loss: which parameters it reaches, which data it saw.

Used on a few sampled backward calls only (it visits every node once). Works
for module models and for hand-written code alike (w * x + b with no nn.Module).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

MAX_NODES = 2000    # a walk stops here; enough for models of a few hundred layers


@dataclass
class GraphView:
    leaves: list[torch.Tensor] = field(default_factory=list)       # tensors that receive gradients
    data: list[tuple[str, torch.Tensor]] = field(default_factory=list)   # (op, tensor) saved, not trainable
    nodes: int = 0


def walk(loss: torch.Tensor, skip: set[int] | frozenset = frozenset()) -> GraphView:
    """Leaves and saved data tensors of `loss`'s graph. `skip`: ids of tensors (buffers) to ignore."""
    view = GraphView()
    root = loss.grad_fn
    if root is None:
        return view
    stack, seen = [root], {id(root)}
    while stack and view.nodes < MAX_NODES:
        node = stack.pop()
        view.nodes += 1
        var = getattr(node, "variable", None)           # AccumulateGrad: a leaf tensor
        if isinstance(var, torch.Tensor):
            view.leaves.append(var)
        for attr in dir(node):
            if not attr.startswith("_saved_"):
                continue
            try:
                value = getattr(node, attr)
            except Exception:                               # freed or unpackable: skip
                continue
            if isinstance(value, torch.Tensor) and not value.requires_grad and value.is_floating_point() \
                    and value.dim() >= 1 and value.numel() > 1 and id(value) not in skip:
                view.data.append((type(node).__name__, value))
        for nxt, _ in node.next_functions:
            if nxt is not None and id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append(nxt)
    return view
