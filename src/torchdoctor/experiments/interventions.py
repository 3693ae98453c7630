"""Single changes a hook can make to a training run without editing its code.

Each intervention is a small serialisable object: the parent process plans it,
a child process re-running the script applies it through the observer's hooks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch


@dataclass
class Intervention:
    kind: ClassVar[str] = ""

    def step_pre(self, optimizer: torch.optim.Optimizer) -> None:
        """Called before every optimizer step."""

    def step_post(self, optimizer: torch.optim.Optimizer) -> None:
        """Called after every optimizer step."""

    def forward_pre(self, where: tuple[str, str], args: tuple) -> tuple | None:
        """Called before every module forward; returns replacement arguments, or None."""
        return None

    def forward(self, where: tuple[str, str], args: tuple, output: Any) -> Any:
        """Called after every module forward; `where` is (model type, qualified name),
        the name "" being the model itself. Returns a replacement output, or None."""
        return None

    def loss(self, kind: str, pred: torch.Tensor, target: torch.Tensor) -> tuple | None:
        """Called before every loss function; returns replacement (pred, target), or None."""
        return None

    def before_backward(self, optimizers: list) -> None:
        """Called just before every backward()."""

    @property
    def label(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Intervention":
        d = dict(d)
        cls = KINDS[d.pop("kind")]
        return cls(**d)


@dataclass
class ScaleLR(Intervention):
    """Multiply every param group's learning rate by `factor` for each step.

    The lr is scaled just before the step and restored just after, so an LR
    scheduler attached to the optimizer keeps computing from its own values.
    """
    factor: float
    kind: ClassVar[str] = "scale_lr"

    def step_pre(self, optimizer):
        self._saved = [g["lr"] for g in optimizer.param_groups]
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * self.factor

    def step_post(self, optimizer):
        for g, lr in zip(optimizer.param_groups, getattr(self, "_saved", [])):
            g["lr"] = lr

    @property
    def label(self) -> str:
        return f"learning rate ×{self.factor:g}"


@dataclass
class Bypass(Intervention):
    """Replace one module's output by its input (removes a final Sigmoid, a Softmax…)."""
    model_type: str
    name: str
    module_type: str
    shown_as: str = ""              # how the report names it, e.g. "model.3 (Sigmoid)"
    kind: ClassVar[str] = "bypass"

    def forward_pre(self, where, args):
        # hand the module a copy, so an in-place module (ReLU(inplace=True)) cannot
        # overwrite the input this bypass returns
        if where == (self.model_type, self.name) and args and isinstance(args[0], torch.Tensor):
            self._input = args[0]
            return (args[0].clone(), *args[1:])
        return None

    def forward(self, where, args, output):
        if where == (self.model_type, self.name) and getattr(self, "_input", None) is not None:
            x, self._input = self._input, None
            return x
        return None

    @property
    def label(self) -> str:
        return f"{self.shown_as or self.module_type} bypassed"


KINDS: dict[str, type[Intervention]] = {c.kind: c for c in (ScaleLR, Bypass)}
