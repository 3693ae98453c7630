"""Process-wide hooks that watch any training loop without changing its code.

`Observer` installs, for the duration of a `with` block:
  - global module forward pre/post hooks (which models run, their leaf modules
    in call order with output shapes, which module produced the prediction);
  - wrappers around the loss functions of torch.nn.functional, which the loss
    modules (nn.MSELoss, …) also call (loss kind, shapes, sampled targets);
  - a wrapper around Tensor.backward / torch.autograd.backward (loss values);
  - global optimizer step pre/post hooks (learning rates, gradient norms,
    update sizes, step counting and the step budget).
Everything is removed again in `__exit__`, whatever happened in between.
The observer keeps only bounded records (see trace.py) and uses its own RNG.
"""
from __future__ import annotations

import functools
import math
import os
import re
import sys
import time
from typing import Any, Callable, Iterable

import torch
import torch.optim.optimizer as optim_hooks
from torch.nn.modules import module as module_hooks

from ..experiments.interventions import Intervention
from .trace import LossInfo, ModelInfo, ModuleCall, OptimizerInfo, RowReservoir, Trace

# Loss functions of torch.nn.functional taking (input, target, ...); the loss
# modules of torch.nn call these, so wrapping them sees both styles.
LOSS_FUNCTIONS = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
    "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
)

# Autograd nodes that only reshape or copy: looked through when asking which
# module produced a prediction (model(x).squeeze(1) is still the model's output).
VIEW_NODES = {
    "ViewBackward", "UnsafeViewBackward", "ReshapeAliasBackward", "SqueezeBackward",
    "UnsqueezeBackward", "TBackward", "PermuteBackward", "TransposeBackward", "CloneBackward",
    "ToCopyBackward", "ExpandBackward", "AsStridedBackward", "FlattenBackward",
}

# Steps at which the costlier statistics (gradient norms, update sizes, target
# samples) are taken: every step at first, then one in SAMPLE_EVERY.
SAMPLE_FIRST = 50
SAMPLE_EVERY = 10
TARGET_ROWS = 8192          # rows of targets kept (PCA floors need a few thousand)
ROWS_PER_CALL = 256         # rows offered to the reservoir per sampled loss call
UPDATE_SAMPLE = 4096        # elements per weight tensor used to measure update sizes
MAX_LEAVES = 2000           # leaf modules recorded per model


# Frames inside these folders are not the user's: skipped when looking for the
# variable name a script gave its model.
_SKIP_DIRS = (os.path.dirname(torch.__file__) + os.sep, os.path.dirname(os.path.dirname(__file__)) + os.sep)
_EXAMPLES_DIR = os.path.join(_SKIP_DIRS[1], "examples") + os.sep


def _internal(filename: str) -> bool:
    return filename.startswith(_SKIP_DIRS) and not filename.startswith(_EXAMPLES_DIR)


def caller_name(module: torch.nn.Module) -> str | None:
    """The name the calling code uses for `module` ("model", or "net" for self.net)."""
    f = sys._getframe(1)
    for _ in range(12):
        if f is None:
            return None
        if not _internal(f.f_code.co_filename):
            for name, value in list(f.f_locals.items()):
                if value is module:
                    return name
            owner = f.f_locals.get("self")
            if owner is not None and hasattr(owner, "__dict__"):
                for name, value in list(vars(owner).items()):
                    if value is module:
                        return name
            return None                       # only the first frame of user code
        f = f.f_back
    return None


class StopTraining(BaseException):
    """Raised from a hook to end the user's script early (step or time budget).

    A BaseException, so a script's `except Exception:` does not swallow it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _safe(fn: Callable) -> Callable:
    """A hook body that never raises into the user's script: an error inside
    torchdoctor is recorded (Observer.internal_errors) and the script goes on.
    StopTraining is a BaseException and passes through on purpose."""
    @functools.wraps(fn)
    def wrapper(self: "Observer", *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as e:
            self.internal_errors += 1
            if self.internal_error is None:
                self.internal_error = f"{type(e).__name__}: {e} (in {fn.__name__})"
            return None
    return wrapper


def node_name(node: Any) -> str:
    return re.sub(r"\d+$", "", type(node).__name__)


def _sampled(i: int) -> bool:
    return i < SAMPLE_FIRST or i % SAMPLE_EVERY == 0


class _Root:
    """Book-keeping for one top-level model."""

    def __init__(self, module: torch.nn.Module, index: int) -> None:
        self.module = module
        self.index = index
        self.names = {id(m): n for n, m in module.named_modules()}
        self.leaves = {id(m) for m in module.modules() if next(iter(m.children()), None) is None}
        self.recording = True           # first forward: record the leaf modules
        self.last_leaf: tuple[Any, Any] | None = None   # (module, output) of the last leaf this forward


class Observer:
    def __init__(self, *, max_steps: int | None = None, deadline: float | None = None,
                 interventions: Iterable[Intervention] = (), seed: int = 0) -> None:
        self.trace = Trace()
        self.max_steps = max_steps
        self.deadline = deadline                  # time.monotonic() value
        self.interventions = list(interventions)
        self._bypass = any(type(i).forward is not Intervention.forward for i in self.interventions)
        self._gen = torch.Generator().manual_seed(seed)
        self._handles: list[Any] = []
        self._patches: list[tuple[Any, str, Any]] = []
        self._depth = 0
        self._roots: dict[int, _Root] = {}
        self._stack: list[_Root] = []             # roots currently inside forward
        self._out_nodes: dict[int, tuple[Any, _Root, ModuleCall | None]] = {}
        self._pending: list[float] = []           # loss values of backward calls since the last step
        self._in_backward = False
        self._in_loss = False
        self._opts: dict[int, OptimizerInfo] = {}
        self._primary: int | None = None
        self._upd_before: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._upd_idx: dict[int, torch.Tensor] = {}
        self._t0 = 0.0
        self._stop: str | None = None             # set once a budget is reached: every later hook raises again
        self.internal_errors = 0
        self.internal_error: str | None = None
        self._pre_interventions = any(type(i).forward_pre is not Intervention.forward_pre
                                      for i in self.interventions)

    # ---- install / remove -------------------------------------------------
    def __enter__(self) -> "Observer":
        self._t0 = time.monotonic()
        try:
            self._handles.append(module_hooks.register_module_forward_pre_hook(self._forward_pre))
            try:
                h = module_hooks.register_module_forward_hook(self._forward_post, always_call=True)
            except TypeError:                     # torch < 2.1 has no always_call
                h = module_hooks.register_module_forward_hook(self._forward_post)
            self._handles.append(h)
            self._handles.append(optim_hooks.register_optimizer_step_pre_hook(self._step_pre))
            self._handles.append(optim_hooks.register_optimizer_step_post_hook(self._step_post))
            F = torch.nn.functional
            for name in LOSS_FUNCTIONS:
                if hasattr(F, name):
                    self._patch(F, name, self._wrap_loss(name, getattr(F, name)))
            self._patch(torch.Tensor, "backward", self._wrap_backward(torch.Tensor.backward, method=True))
            self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward, method=False))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for obj, name, orig in reversed(self._patches):
            setattr(obj, name, orig)
        self._patches.clear()
        self._out_nodes.clear()
        self._stack.clear()
        self.trace.wall_s = time.monotonic() - self._t0

    def _patch(self, obj: Any, name: str, new: Any) -> None:
        self._patches.append((obj, name, getattr(obj, name)))
        setattr(obj, name, new)

    # ---- naming -----------------------------------------------------------
    def name_models(self, namespace: dict[str, Any]) -> None:
        """Give each model the script's variable name for it ("model" rather than "Sequential")."""
        for root in self._roots.values():
            if self.trace.models[root.index].var != type(root.module).__name__:
                continue                                  # already named where it was called
            for var, value in namespace.items():
                if value is root.module and not var.startswith("_"):
                    self.trace.models[root.index].var = var
                    break

    def stop(self, reason: str) -> None:
        """End the script at the next hook (and every hook after it, in case the script
        swallows the first StopTraining with a bare `except:`)."""
        self._stop = reason

    # ---- forward ----------------------------------------------------------
    def _forward_pre(self, module: torch.nn.Module, args: tuple) -> Any:
        if self._stop is not None:
            raise StopTraining(self._stop)
        return self._forward_pre_safe(module, args)

    @_safe
    def _forward_pre_safe(self, module: torch.nn.Module, args: tuple) -> Any:
        replaced = None
        if self._pre_interventions and self._stack and self._stack[-1] is not None:
            root = self._stack[-1]
            where = (type(root.module).__name__, root.names.get(id(module), "?"))
            for iv in self.interventions:
                r = iv.forward_pre(where, args)
                if r is not None:
                    replaced = args = r
        if self._depth == 0 and not isinstance(module, torch.nn.modules.loss._Loss):
            root = self._roots.get(id(module))
            if root is None:
                info = ModelInfo(var=caller_name(module) or type(module).__name__, type=type(module).__name__,
                                 params=sum(p.numel() for p in module.parameters()),
                                 trainable=sum(p.numel() for p in module.parameters() if p.requires_grad))
                root = _Root(module, len(self.trace.models))
                self.trace.models.append(info)
                self._roots[id(module)] = root
            self.trace.models[root.index].calls += 1
            self.trace.forward_calls += 1
            root.last_leaf = None
            self._stack.append(root)
        elif self._depth == 0:
            self._stack.append(None)
        self._depth += 1
        return replaced

    @_safe
    def _forward_post(self, module: torch.nn.Module, args: tuple, output: Any) -> Any:
        self._depth = max(0, self._depth - 1)
        root = self._stack[-1] if self._stack else None
        replaced = None
        if root is not None:
            if self._bypass:
                where = (type(root.module).__name__, root.names.get(id(module), "?"))
                for iv in self.interventions:
                    r = iv.forward(where, args, output)
                    if r is not None:
                        replaced = output = r
            if self._depth > 0:
                self._leaf(root, module, output)
            else:
                self._root_done(root, output)
        if self._depth == 0 and self._stack:
            self._stack.pop()
        return replaced

    def _leaf(self, root: _Root, module: torch.nn.Module, output: Any) -> None:
        if id(module) not in root.leaves:
            return                                     # containers: only leaves describe the path
        if root.recording:
            leaves = self.trace.models[root.index].leaves
            if len(leaves) < MAX_LEAVES:
                leaves.append(ModuleCall(
                    name=root.names.get(id(module), "?"), type=type(module).__name__,
                    out_shape=list(output.shape) if isinstance(output, torch.Tensor) else None,
                    params=sum(p.numel() for p in module.parameters(recurse=False)),
                    attrs=_attrs(module)))
        if isinstance(output, torch.Tensor):
            root.last_leaf = (module, output)

    def _root_done(self, root: _Root, output: Any) -> None:
        root.recording = False
        final = None
        if root.last_leaf is not None and root.last_leaf[1] is output:
            module = root.last_leaf[0]
            final = ModuleCall(name=root.names.get(id(module), "?"), type=type(module).__name__,
                               out_shape=list(output.shape), params=0, attrs=_attrs(module))
        root.last_leaf = None
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            if len(self._out_nodes) > 16:
                self._out_nodes.clear()
            # strong reference to the node: its id stays valid until the next step
            self._out_nodes[id(output.grad_fn)] = (output.grad_fn, root, final)

    # ---- loss -------------------------------------------------------------
    def _wrap_loss(self, kind: str, orig: Callable) -> Callable:
        @functools.wraps(orig)
        def loss_fn(input, target, *args, **kwargs):
            if self._in_loss:
                return orig(input, target, *args, **kwargs)
            self._in_loss = True
            try:
                out = orig(input, target, *args, **kwargs)
            finally:
                self._in_loss = False
            if isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor):
                self._on_loss(kind, input, target, kwargs)
            return out
        return loss_fn

    @_safe
    def _on_loss(self, kind: str, pred: torch.Tensor, target: torch.Tensor, kwargs: dict) -> None:
        info = next((l for l in self.trace.losses if l.kind == kind), None)
        if info is None:
            info = LossInfo(kind=kind, targets=RowReservoir(TARGET_ROWS, seed=1))
            self.trace.losses.append(info)
        info.calls += 1
        if info.calls == 1:
            info.reduction = str(kwargs.get("reduction", "mean"))
            info.pred_shape, info.target_shape = list(pred.shape), list(target.shape)
            info.pred_dtype, info.target_dtype = str(pred.dtype), str(target.dtype)
        if info.model is None and pred.grad_fn is not None:
            self._resolve_prediction(info, pred)
        if _sampled(info.calls - 1) and pred.dim() > 0 and target.dim() > 0 \
                and pred.shape[0] == target.shape[0] and pred.numel() > 0 and target.numel() > 0:
            info.targets.add_many(target, ROWS_PER_CALL)
            info.last_preds = pred.detach()[:ROWS_PER_CALL].reshape(min(len(pred), ROWS_PER_CALL), -1) \
                .to("cpu", torch.float32, copy=True)

    def _resolve_prediction(self, info: LossInfo, pred: torch.Tensor) -> None:
        """Which model produced `pred`, and which module (or op) made its last step."""
        node, hops = pred.grad_fn, 0
        while node is not None and hops < 8:
            hit = self._out_nodes.get(id(node))
            if hit is not None and hit[0] is node:
                _, root, final = hit
                info.model = root.index
                info.final_module = final
                if final is not None:
                    info.final_module_id = (type(root.module).__name__, final.name)
                break
            if node_name(node) not in VIEW_NODES or not node.next_functions:
                break
            node, hops = node.next_functions[0][0], hops + 1
        if info.final_op is None and node is not None:
            info.final_op = type(node).__name__

    # ---- backward ---------------------------------------------------------
    def _wrap_backward(self, orig: Callable, method: bool) -> Callable:
        @functools.wraps(orig)
        def backward(*args, **kwargs):
            if self._in_backward:
                return orig(*args, **kwargs)
            self._in_backward = True
            try:
                first = args[0] if args else kwargs.get("tensors", kwargs.get("self"))
                t = first[0] if isinstance(first, (list, tuple)) and first else first
                if isinstance(t, torch.Tensor):
                    self._on_backward(t)
                return orig(*args, **kwargs)
            finally:
                self._in_backward = False
                self._depth = 0                   # a forward that raised cannot skew later calls
        return backward

    @_safe
    def _on_backward(self, loss: torch.Tensor) -> None:
        self.trace.backward_calls += 1
        if loss.numel() == 1:
            value = float(loss.detach())
            self._pending.append(value)
            self.trace.backward_loss.append(value)

    # ---- optimizer --------------------------------------------------------
    def _opt_info(self, opt: torch.optim.Optimizer) -> OptimizerInfo:
        info = self._opts.get(id(opt))
        if info is None:
            info = OptimizerInfo(
                type=type(opt).__name__,
                groups=[{k: _plain(v) for k, v in g.items() if k != "params"} for g in opt.param_groups],
                params=sum(len(g["params"]) for g in opt.param_groups))
            self._opts[id(opt)] = info
            self.trace.optimizers.append(info)
            if self._primary is None:
                self._primary = id(opt)
        return info

    def _step_pre(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if self._stop is not None:
            raise StopTraining(self._stop)
        self._step_pre_safe(opt)

    @_safe
    def _step_pre_safe(self, opt: torch.optim.Optimizer) -> None:
        self._opt_info(opt)
        for iv in self.interventions:
            iv.step_pre(opt)
        if id(opt) != self._primary:
            return
        step = self.trace.steps
        self.trace.lr.append(float(opt.param_groups[0]["lr"]))
        if _sampled(step):
            grads = [p.grad.detach() for g in opt.param_groups for p in g["params"] if p.grad is not None]
            if grads:
                norms = torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])
                self.trace.grad_norm.append(float(torch.linalg.vector_norm(norms)))
            self._upd_before = []
            for g in opt.param_groups:
                for p in g["params"]:
                    if p.dim() >= 2:                     # weight matrices: biases start at 0
                        flat = p.detach().reshape(-1)
                        idx = self._upd_idx.get(id(p))
                        if idx is None:
                            n = min(flat.numel(), UPDATE_SAMPLE)
                            idx = torch.randperm(flat.numel(), generator=self._gen)[:n].to(flat.device)
                            self._upd_idx[id(p)] = idx
                        self._upd_before.append((p, idx, flat[idx].clone()))

    def _step_post(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        self._step_post_safe(opt)
        if self.max_steps is not None and self.trace.steps >= self.max_steps:
            self.stop("max_steps")
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stop("timeout")
        if self._stop is not None:
            raise StopTraining(self._stop)

    @_safe
    def _step_post_safe(self, opt: torch.optim.Optimizer) -> None:
        info = self._opt_info(opt)
        info.steps += 1
        for iv in self.interventions:
            iv.step_post(opt)
        if id(opt) != self._primary:
            return
        self.trace.steps += 1
        if self._pending:
            self.trace.loss.append(sum(self._pending) / len(self._pending))
            self._pending.clear()
        if self._upd_before:
            num = den = 0.0
            for p, idx, before in self._upd_before:
                after = p.detach().reshape(-1)[idx].float()
                num += float(((after - before.float()) ** 2).sum())
                den += float((before.float() ** 2).sum())
            if den > 0:
                self.trace.update_ratio.append(math.sqrt(num / den))
            self._upd_before = []
        self._out_nodes.clear()


def _plain(v: Any) -> Any:
    """A JSON-friendly copy of an optimizer hyper-parameter."""
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return repr(v)


def _attrs(module: torch.nn.Module) -> dict[str, Any]:
    """The few constructor arguments that checks read (ranges, widths, rates)."""
    out = {}
    for k in ("in_features", "out_features", "min_val", "max_val", "alpha", "beta", "threshold",
              "p", "dim", "inplace"):
        v = getattr(module, k, None)
        if isinstance(v, (int, float, bool)):
            out[k] = v
    return out
