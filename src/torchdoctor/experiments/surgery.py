"""Changes to a model's structure, made on a copy the tool owns (diagnose()).

No hook can widen a layer of a user's script (its optimizer already holds the
old parameters), but a copy of a model handed over in Python can be rebuilt:
`Widen` replaces a narrow Linear layer, the normalisation layers after it and
the Linear layer that consumes it with wider ones, and `rebuild_optimizer`
gives the copied optimizer the new parameters. A re-run of the copy then shows
whether the width was what held the model back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .interventions import KINDS, Intervention

# Leaf modules that act on each unit separately (or not at all): the narrow
# layer's output may pass through them on its way to the consuming layer.
ELEMENTWISE = {"ReLU", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid",
               "Softplus", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Dropout", "AlphaDropout", "Identity"}
# Per-unit normalisation layers, rebuilt at the new width.
NORMS = {"BatchNorm1d", "LayerNorm"}


@dataclass
class Widen(Intervention):
    """Rebuild `name` (a Linear layer) with `width` output units, the norms in `between`
    at that width, and `consumer` (the next Linear) with `width` inputs, freshly initialised."""
    model_type: str
    name: str
    width: int
    consumer: str
    between: list[str] = field(default_factory=list)
    shown_as: str = ""
    kind: ClassVar[str] = "widen"
    owned_only: ClassVar[bool] = True         # applies to a model copy, not through a script's hooks

    def transform(self, model: torch.nn.Module) -> dict[int, list[torch.nn.Parameter]]:
        """Replace the modules on `model` in place; returns {id(old parameter): new parameters}."""
        modules = dict(model.named_modules())
        old, cons = modules[self.name], modules[self.consumer]
        if not (isinstance(old, torch.nn.Linear) and isinstance(cons, torch.nn.Linear)):
            raise ValueError("only Linear layers can be widened")
        new: dict[str, torch.nn.Module] = {}
        kw = {"device": old.weight.device, "dtype": old.weight.dtype}
        with torch.random.fork_rng(devices=[]):       # fresh weights without drawing on the run's RNG
            torch.manual_seed(0)
            new[self.name] = torch.nn.Linear(old.in_features, self.width, bias=old.bias is not None, **kw)
            for n in self.between:
                m = modules[n]
                if isinstance(m, torch.nn.BatchNorm1d):
                    new[n] = torch.nn.BatchNorm1d(self.width, eps=m.eps, momentum=m.momentum, affine=m.affine, **kw)
                elif isinstance(m, torch.nn.LayerNorm):
                    new[n] = torch.nn.LayerNorm(self.width, eps=m.eps, elementwise_affine=m.elementwise_affine, **kw)
            new[self.consumer] = torch.nn.Linear(self.width, cons.out_features, bias=cons.bias is not None, **kw)
        mapping: dict[int, list[torch.nn.Parameter]] = {}
        for n, m in new.items():
            before = list(modules[n].parameters())
            _set_module(model, n, m)
            after = list(m.parameters())
            for i, p in enumerate(before):              # weight -> weight, bias -> bias
                mapping[id(p)] = [after[i]] if i < len(after) else []
        return mapping

    @property
    def label(self) -> str:
        return f"{self.shown_as or self.name} widened to {self.width} units"


KINDS[Widen.kind] = Widen


def _set_module(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    if isinstance(owner, (torch.nn.Sequential, torch.nn.ModuleList)) and leaf.isdigit():
        owner[int(leaf)] = module
    else:
        setattr(owner, leaf, module)


def rebuild_optimizer(optimizer: torch.optim.Optimizer, mapping: dict[int, list[torch.nn.Parameter]],
                      scheduler: Any = None) -> torch.optim.Optimizer:
    """An optimizer of the same class and hyper-parameters over the new parameters
    (state such as momentum starts afresh); a scheduler is pointed at it."""
    groups = []
    for g in optimizer.param_groups:
        params = [q for p in g["params"] for q in mapping.get(id(p), [p])]
        groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": params})
    new = type(optimizer)(groups)
    if scheduler is not None and hasattr(scheduler, "optimizer"):
        scheduler.optimizer = new
    return new


def widen_plan(leaves: list, narrow, model_type: str, width: int, shown_as: str = "") -> "Widen | None":
    """A Widen for the Linear leaf `narrow` when the leaves after it form a plain chain
    of per-unit layers ending in a Linear that takes its output; None otherwise."""
    if narrow.type != "Linear" or width <= (narrow.attrs.get("out_features") or 0):
        return None
    i = next((i for i, l in enumerate(leaves) if l is narrow), None)
    if i is None:
        return None
    between = []
    for j in range(i + 1, len(leaves)):
        leaf = leaves[j]
        if leaf.input_from != leaves[j - 1].name:
            return None                                  # an op between them: not a plain chain
        if leaf.type == "Linear":
            if leaf.attrs.get("in_features") != narrow.attrs.get("out_features"):
                return None
            return Widen(model_type, narrow.name, width, leaf.name, between, shown_as=shown_as)
        if leaf.type in NORMS:
            between.append(leaf.name)
        elif leaf.type not in ELEMENTWISE:
            return None
    return None
