"""What one observed training run leaves behind: bounded streaming records.

Everything here has a fixed upper size, whatever the number of steps: long runs
must not make the observer's memory grow (DESIGN.md, "Observe").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

# Points kept at full resolution at the start and at the end of a series, and
# the size of the decimated middle. 4096 points draw any curve at screen width.
HEAD_POINTS = 64
TAIL_POINTS = 512
MAX_POINTS = 4096


class StepPoints:
    """(step, value) pairs of bounded number: at most `cap`, every other one dropped
    (and the stride doubled) when full; for the report's per-layer plots."""

    def __init__(self, cap: int = 256) -> None:
        self.cap, self.points, self._stride, self._seen = cap, [], 1, 0

    def add(self, step: int, value: float) -> None:
        if self._seen % self._stride == 0:
            self.points.append((int(step), float(value)))
            if len(self.points) > self.cap:
                self._stride *= 2
                self.points = self.points[::2]
        self._seen += 1


class Series:
    """A per-step scalar series of bounded size.

    Keeps the first HEAD_POINTS values and the last TAIL_POINTS values exactly,
    plus a decimated history of at most MAX_POINTS (step, value) pairs: when the
    history fills up, every other point is dropped and the stride doubles.
    """

    def __init__(self) -> None:
        self.count = 0
        self.head: list[float] = []
        self.tail: list[float] = []          # ring, oldest first after `tail_values()`
        self._tail_pos = 0
        self.history: list[tuple[int, float]] = []
        self._stride = 1
        self.nonfinite = 0
        self.first_nonfinite: int | None = None

    def append(self, value: float) -> None:
        step = self.count
        self.count += 1
        if not math.isfinite(value):
            self.nonfinite += 1
            if self.first_nonfinite is None:
                self.first_nonfinite = step
        if len(self.head) < HEAD_POINTS:
            self.head.append(value)
        if len(self.tail) < TAIL_POINTS:
            self.tail.append(value)
        else:
            self.tail[self._tail_pos] = value
            self._tail_pos = (self._tail_pos + 1) % TAIL_POINTS
        if step % self._stride == 0:
            self.history.append((step, value))
            if len(self.history) > MAX_POINTS:
                self._stride *= 2
                self.history = [(s, v) for s, v in self.history if s % self._stride == 0]

    def tail_values(self) -> list[float]:
        """The last min(count, TAIL_POINTS) values, oldest first."""
        return self.tail[self._tail_pos:] + self.tail[:self._tail_pos]

    def last(self) -> float | None:
        return self.tail_values()[-1] if self.count else None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "head": self.head, "tail": self.tail_values(),
                "history": self.history, "nonfinite": self.nonfinite,
                "first_nonfinite": self.first_nonfinite}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Series":
        s = cls()
        s.count = d["count"]
        s.head = list(d["head"])
        s.tail = list(d["tail"])
        s.history = [tuple(p) for p in d["history"]]
        s.nonfinite = d.get("nonfinite", 0)
        s.first_nonfinite = d.get("first_nonfinite")
        return s


class RowReservoir:
    """A uniform sample of rows (one row per example) from many batches.

    Uses its own torch.Generator, so sampling never touches the user's RNG.
    Rows are stored flattened as float32 on the CPU: (rows, features).
    """

    def __init__(self, max_rows: int, max_elements: int = 1 << 20, seed: int = 0) -> None:
        self.max_rows = max_rows
        self.max_elements = max_elements
        self.rows: torch.Tensor | None = None      # (max_rows, F), the first `filled` rows valid
        self.filled = 0
        self.seen = 0
        self._gen = torch.Generator().manual_seed(seed)

    def add(self, batch: torch.Tensor) -> None:
        if batch.dim() == 0 or batch.shape[0] == 0 or batch.numel() == 0:
            return                                   # an empty batch has no rows to keep
        rows = batch.detach().reshape(batch.shape[0], -1).to("cpu", torch.float32)   # (N, F)
        if self.rows is None:
            self.max_rows = max(1, min(self.max_rows, self.max_elements // max(1, rows.shape[1])))
            self.rows = torch.empty(self.max_rows, rows.shape[1])
            self.filled = 0
        if rows.shape[1] != self.rows.shape[1]:
            return                                   # a batch of another shape: not the same stream
        free = min(self.max_rows - self.filled, rows.shape[0])
        if free:                                     # fill up first
            self.rows[self.filled:self.filled + free] = rows[:free]
            self.filled += free
            self.seen += free
            rows = rows[free:]
        if rows.shape[0]:                            # Algorithm R: row i kept with prob max_rows / seen_i
            seen = self.seen + torch.arange(1, rows.shape[0] + 1, dtype=torch.float64)
            j = (torch.rand(rows.shape[0], generator=self._gen, dtype=torch.float64) * seen).long()
            keep = j < self.max_rows
            self.rows[j[keep]] = rows[keep]
            self.seen += rows.shape[0]

    def sample(self) -> torch.Tensor | None:
        """The kept rows, (R, F), or None before the first batch."""
        return None if self.rows is None else self.rows[:self.filled]

    def add_many(self, batch: torch.Tensor, limit: int) -> None:
        """Offer at most `limit` rows of the batch, chosen at random."""
        n = batch.shape[0]
        if n > limit:
            idx = torch.randperm(n, generator=self._gen)[:limit]
            batch = batch.detach()[idx]
        self.add(batch)


@dataclass
class ModuleCall:
    """One leaf module as seen in a model's first forward pass."""
    name: str                       # qualified name inside its model, e.g. "0" or "encoder.fc1"
    type: str                       # class name, e.g. "Linear"
    out_shape: list[int] | None     # shape of the output tensor, None if not a tensor
    params: int                     # number of parameters it owns directly
    attrs: dict[str, Any] = field(default_factory=dict)   # e.g. {"min_val": -1, "max_val": 1}
    input_from: str | None = None   # the leaf whose output is this leaf's input, unchanged (no op between)
    in_op: str | None = None        # autograd node of the input ("ReluBackward0"), None for data
    training: bool = True           # module.training during the first forward


@dataclass
class ParamInfo:
    """One parameter tensor the run trains (or should train)."""
    name: str                       # "model.encoder.0.weight"
    shape: list[int]
    requires_grad: bool
    in_optimizer: bool = False
    grad_checks: int = 0            # sampled steps at which its gradient was looked at
    got_grad: int = 0               # … and was there and non-zero
    changed: bool = False           # its value differs from the first step's (checked at the end)
    reached: bool = False           # the loss's autograd graph reaches it
    module_ran: bool = True         # the module owning it ran in a training forward


@dataclass
class ModelInfo:
    """A top-level module: one the training script calls directly."""
    var: str                        # the script's variable name for it, else its class name
    type: str
    params: int
    trainable: int
    calls: int = 0
    leaves: list[ModuleCall] = field(default_factory=list)   # leaf modules in call order
    training_calls: int = 0         # forwards in train mode with autograd on
    eval_calls_with_grad: int = 0   # forwards in eval mode whose output was trained on
    symmetric: list[dict] = field(default_factory=list)  # weights with identical rows at the first forward


@dataclass
class LossInfo:
    """The loss function the run trains on, as seen at its calls."""
    kind: str                       # functional name, e.g. "mse_loss", "cross_entropy"
    calls: int = 0
    reduction: str = "mean"
    pred_shape: list[int] = field(default_factory=list)
    target_shape: list[int] = field(default_factory=list)
    pred_dtype: str = ""
    target_dtype: str = ""
    model: int | None = None        # index in Trace.models of the model that produced the prediction
    final_op: str | None = None     # autograd node of the prediction, e.g. "SigmoidBackward0"
    final_module: ModuleCall | None = None   # the leaf module whose output is the prediction
    final_module_id: tuple[str, str] | None = None   # (model type, qualified name) to address it in a re-run
    targets: RowReservoir | None = None      # (R, F) sampled target rows
    pairs: RowReservoir | None = None        # (R, Fx + F) model input rows next to their target rows
    input_dim: int = 0                       # Fx: where the input part of a pair ends
    pred_nonfinite: int = 0                  # calls whose prediction had NaN/Inf
    target_nonfinite: int = 0                # calls whose target had NaN/Inf
    min_value: float = math.inf              # lowest loss value returned (NLL on raw scores goes negative)
    last_preds: torch.Tensor | None = None   # (R, F) predictions of the latest sampled call: one set of weights


@dataclass
class OptimizerInfo:
    type: str
    groups: list[dict[str, Any]]    # hyper-parameters of each param group (lr, weight_decay, …), no params
    params: int                     # number of parameter tensors it holds
    steps: int = 0


@dataclass
class Trace:
    """Everything the observer recorded about one run."""
    loss: Series = field(default_factory=Series)            # mean loss of the backward calls of each optimizer step
    backward_loss: Series = field(default_factory=Series)   # the loss at every backward call
    lr: Series = field(default_factory=Series)              # first param group's lr at each step
    grad_norm: Series = field(default_factory=Series)       # total gradient norm, sampled steps
    update_ratio: Series = field(default_factory=Series)    # ‖Δw‖/‖w‖ over weight matrices, sampled steps
    steps: int = 0                  # optimizer steps of the primary optimizer
    backward_calls: int = 0
    forward_calls: int = 0
    models: list[ModelInfo] = field(default_factory=list)
    losses: list[LossInfo] = field(default_factory=list)
    optimizers: list[OptimizerInfo] = field(default_factory=list)
    wall_s: float = 0.0
    params: list[ParamInfo] = field(default_factory=list)
    stale_grad_steps: int = 0       # steps whose first backward found gradients left from before the step
    zero_grad_steps: int = 0        # sampled steps at which every gradient was None or zero
    grad_steps_checked: int = 0
    inputs: RowReservoir | None = None       # (R, Fx) rows of data entering the model (or the graph)
    input_source: str = ""                   # "model input" or the autograd op that saved the data
    nonfinite_module: str | None = None      # first module turning finite inputs and weights into NaN/Inf
    nonfinite_weights: str | None = None     # first module whose weights were already NaN/Inf
    nonfinite_step: int | None = None
    input_nonfinite: int = 0                 # batches whose model input had NaN/Inf
    manual_updates: int = 0                  # backward calls followed by an in-place parameter change, no optimizer
    activations: dict[str, dict] = field(default_factory=dict)   # per ReLU/Tanh/Sigmoid leaf: dead units, saturation
    compiled: bool = False          # forwards ran inside torch.compile'd code, whose layers were not observed
    layer_grads: dict[str, list[float]] = field(default_factory=dict)   # weight name -> recent ‖g‖/‖w‖
    layer_grad_norms: dict[str, StepPoints] = field(default_factory=dict)   # weight name -> (step, ‖g‖) sampled
    same_batches: int = 0                    # sampled training batches identical to the previous one
    batches_compared: int = 0
    loaders: list[dict] = field(default_factory=list)   # DataLoaders iterated: {"dataset": n, "batch_size": b}

    @property
    def model(self) -> ModelInfo | None:
        """The model the loss is computed on (else the most-called one)."""
        loss = self.loss_info
        if loss is not None and loss.model is not None:
            return self.models[loss.model]
        return max(self.models, key=lambda m: m.calls, default=None)

    @property
    def loss_info(self) -> LossInfo | None:
        return max(self.losses, key=lambda l: l.calls, default=None)

    def curve(self) -> Series:
        """The loss curve to judge: per optimizer step, else per backward call."""
        return self.loss if self.loss.count else self.backward_loss
