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

    def bind(self, observer: Any) -> None:
        """Called once by the observer that applies this intervention."""
        self.observer = observer

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
    fn: str = ""                    # "" returns the input itself; "leaky_relu" returns fn(input)
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
            return getattr(torch.nn.functional, self.fn)(x) if self.fn else x
        return None

    @property
    def label(self) -> str:
        what = self.shown_as or self.module_type
        return f"{what} replaced by {self.fn}" if self.fn else f"{what} bypassed"


@dataclass
class SetHyper(Intervention):
    """Set one optimizer hyper-parameter (weight_decay, momentum…) for every step, restored after."""
    name: str
    value: float
    kind: ClassVar[str] = "set_hyper"

    def step_pre(self, optimizer):
        self._saved = [g.get(self.name) for g in optimizer.param_groups]
        for g in optimizer.param_groups:
            if self.name in g:
                g[self.name] = self.value

    def step_post(self, optimizer):
        for g, v in zip(optimizer.param_groups, getattr(self, "_saved", [])):
            if v is not None:
                g[self.name] = v

    @property
    def label(self) -> str:
        return f"{self.name}={self.value:g}"


@dataclass
class ClipGrad(Intervention):
    """Clip the total gradient norm of each optimizer's parameters before its step."""
    max_norm: float = 1.0
    kind: ClassVar[str] = "clip_grad"

    def step_pre(self, optimizer):
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.max_norm)

    @property
    def label(self) -> str:
        return f"gradients clipped to norm {self.max_norm:g}"


@dataclass
class ZeroGrad(Intervention):
    """Zero every optimizer's gradients before the first backward after each step."""
    kind: ClassVar[str] = "zero_grad"

    def step_post(self, optimizer):
        self._stepped = True

    def before_backward(self, optimizers):
        if getattr(self, "_stepped", False):
            self._stepped = False
            for opt in optimizers:
                opt.zero_grad()

    @property
    def label(self) -> str:
        return "zero_grad() before each backward"


@dataclass
class AddMissingParams(Intervention):
    """Add to the optimizer the parameters the loss reaches but no optimizer holds."""
    kind: ClassVar[str] = "add_missing_params"

    def step_pre(self, optimizer):
        if getattr(self, "_done", False):
            return
        self._done = True
        missing = [p for p in self.observer.unoptimized_params() if p.requires_grad]
        if missing:
            optimizer.add_param_group({"params": missing})

    @property
    def label(self) -> str:
        return "the missing parameters added to the optimizer"


@dataclass
class Apply(Intervention):
    """Apply a function to one module's output ("" = the model's own output)."""
    model_type: str
    name: str
    fn: str                                    # relu | sigmoid
    shown_as: str = ""
    kind: ClassVar[str] = "apply"

    def forward(self, where, args, output):
        if where == (self.model_type, self.name) and isinstance(output, torch.Tensor):
            return getattr(torch, self.fn)(output)
        return None

    @property
    def label(self) -> str:
        return f"{self.fn} applied after {self.shown_as or self.name or 'the model'}"


@dataclass
class ReshapeTarget(Intervention):
    """Give a loss its target in the prediction's shape when both hold as many values."""
    kind: ClassVar[str] = "reshape_target"

    def loss(self, kind, pred, target):
        if pred.shape != target.shape and pred.numel() == target.numel():
            return pred, target.reshape(pred.shape)
        return None

    @property
    def label(self) -> str:
        return "target reshaped to the prediction's shape"


@dataclass
class Standardize(Intervention):
    """Feed the model standardised inputs, and let it predict standardised targets.

    The inputs (x - mean) / std enter the model; its output y is mapped back as
    y * t_std + t_mean, so the loss is still measured in the user's units.
    """
    model_type: str
    in_mean: list[float]
    in_std: list[float]
    out_mean: list[float] | None = None
    out_std: list[float] | None = None
    kind: ClassVar[str] = "standardize"

    def forward_pre(self, where, args):
        if where == (self.model_type, "") and args and isinstance(args[0], torch.Tensor) \
                and args[0].is_floating_point():
            x = args[0]
            mean = torch.tensor(self.in_mean, dtype=x.dtype, device=x.device)
            std = torch.tensor(self.in_std, dtype=x.dtype, device=x.device)
            flat = x.reshape(x.shape[0], -1)
            if flat.shape[1] == mean.numel() or mean.numel() == 1:
                return (((flat - mean) / std).reshape(x.shape), *args[1:])
        return None

    def forward(self, where, args, output):
        if self.out_mean is None or where != (self.model_type, "") or not isinstance(output, torch.Tensor):
            return None
        mean = torch.tensor(self.out_mean, dtype=output.dtype, device=output.device)
        std = torch.tensor(self.out_std, dtype=output.dtype, device=output.device)
        flat = output.reshape(output.shape[0], -1)
        if flat.shape[1] == mean.numel() or mean.numel() == 1:
            return (flat * std + mean).reshape(output.shape)
        return None

    @property
    def label(self) -> str:
        return "standardised inputs" + (" and targets" if self.out_mean is not None else "")


@dataclass
class Reinit(Intervention):
    """Re-initialise given modules (reset_parameters) before the model's first forward."""
    model_type: str
    names: list[str]
    kind: ClassVar[str] = "reinit"

    def forward_pre(self, where, args):
        if getattr(self, "_done", False) or where[0] != self.model_type or where[1] != "":
            return None
        self._done = True
        root = self.observer.current_model()
        if root is not None:
            modules = dict(root.named_modules())
            with torch.random.fork_rng(devices=[]):       # the script's own RNG stream is untouched
                torch.manual_seed(0)
                with torch.no_grad():
                    for n in self.names:
                        m = modules.get(n)
                        if m is not None and hasattr(m, "reset_parameters"):
                            m.reset_parameters()
        return None

    @property
    def label(self) -> str:
        return "random re-initialisation of " + ", ".join(self.names)


@dataclass
class TrainMode(Intervention):
    """Put the model in train mode for every forward pass that autograd records."""
    model_type: str
    kind: ClassVar[str] = "train_mode"

    def forward_pre(self, where, args):
        if where == (self.model_type, "") and torch.is_grad_enabled():
            model = self.observer.current_model()
            if model is not None and not model.training:
                model.train()
        return None

    @property
    def label(self) -> str:
        return "model.train() before each training forward"


@dataclass
class SameBatch(Intervention):
    """The overfit-one-batch probe: train on the first batch, again and again."""
    model_type: str
    kind: ClassVar[str] = "same_batch"

    def forward_pre(self, where, args):
        if where != (self.model_type, "") or not args or not isinstance(args[0], torch.Tensor):
            return None
        if getattr(self, "_x", None) is None:
            self._x = args[0].detach().clone()
        return (self._x, *args[1:]) if args[0].shape == self._x.shape else None

    def loss(self, kind, pred, target):
        if getattr(self, "_t", None) is None:
            self._t = target.detach().clone()
        return (pred, self._t) if target.shape == self._t.shape else None

    @property
    def label(self) -> str:
        return "one batch, repeated (overfit-one-batch probe)"


@dataclass
class SweepLR(Intervention):
    """The lr range test in a re-run: step i of the primary optimizer uses the exponential
    sweep's lr from start_lr to end_lr, every param group keeping its ratio to the first
    non-zero one, and the run stops once the smoothed loss diverges (lr_range.py's rule).

    Like ScaleLR, the script's own lrs are put back after each step, so a scheduler keeps
    computing from its own values.
    """
    start_lr: float = 1e-7
    end_lr: float = 10.0
    steps: int = 100
    diverge: float = 4.0
    kind: ClassVar[str] = "sweep_lr"

    def step_pre(self, optimizer):
        from .lr_range import Smoother, group_ratios, set_lr, sweep_lr    # lr_range imports this module
        if getattr(self, "_smoother", None) is None:
            self._smoother, self._seen = Smoother(diverge=self.diverge), 0
        curve = self.observer.trace.loss           # per-step losses recorded so far
        new = min(curve.count - self._seen, len(curve.tail))
        if new > 0:
            for v in curve.tail_values()[-new:]:
                self._smoother.add(v)
            self._seen = curve.count
            if self._smoother.diverged:
                self.observer.stop("max_steps")
        self._saved = [float(g["lr"]) for g in optimizer.param_groups]
        lr = sweep_lr(self.start_lr, self.end_lr, self.steps, min(self.observer.trace.steps, self.steps - 1))
        for g, r in zip(optimizer.param_groups, group_ratios(self._saved)):
            set_lr(g, lr * r)

    def step_post(self, optimizer):
        from .lr_range import set_lr
        for g, lr in zip(optimizer.param_groups, getattr(self, "_saved", [])):
            set_lr(g, lr)

    @property
    def label(self) -> str:
        return f"learning rate swept from {self.start_lr:g} to {self.end_lr:g} over {self.steps} steps"


KINDS: dict[str, type[Intervention]] = {c.kind: c for c in (
    ScaleLR, Bypass, SetHyper, ClipGrad, ZeroGrad, AddMissingParams, Apply, ReshapeTarget, Standardize, Reinit,
    SameBatch, TrainMode, SweepLR)}
