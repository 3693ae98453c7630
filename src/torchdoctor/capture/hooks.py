"""Process-wide hooks that watch any training loop without changing its code.

`Observer` installs, for the duration of a `with` block:
  - global module forward pre/post hooks (which models run, their leaf modules
    in call order with output shapes, which module produced the prediction);
  - wrappers around the loss functions of torch.nn.functional, which the loss
    modules (nn.MSELoss, …) also call (loss kind, shapes, sampled targets);
  - a wrapper around Tensor.backward / torch.autograd.backward (loss values,
    gradients left over from before the last step, and on a few sampled calls
    a walk of the autograd graph: which parameters the loss reaches);
  - global optimizer step pre/post hooks (learning rates, gradient norms,
    update sizes, step counting and the step budget).
Everything is removed again in `__exit__`, whatever happened in between.
The observer keeps only bounded records (see trace.py) and uses its own RNG.
"""
from __future__ import annotations

import copy
import functools
import math
import os
import re
import sys
import time
import warnings
from typing import Any, Callable, Iterable

import torch
import torch.optim.optimizer as optim_hooks
from torch.nn.modules import module as module_hooks

from ..experiments.interventions import Intervention
from . import graph
from .trace import LossInfo, ModelInfo, ModuleCall, OptimizerInfo, ParamInfo, RowReservoir, StepPoints, Trace

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
    "_DDPSinkBackward",     # DistributedDataParallel passes its outputs through it (find_unused_parameters)
}

# Wrappers whose `.module` is the user's model: names inside them read "model.3",
# not "model.module.3", in the observed run and in its re-runs alike.
WRAPPERS = ("DistributedDataParallel", "DataParallel")

# Steps at which the costlier statistics (gradient norms, update sizes, target
# samples) are taken: every step at first, then one in SAMPLE_EVERY.
SAMPLE_FIRST = 50
SAMPLE_EVERY = 10
TARGET_ROWS = 8192          # rows of targets kept (PCA floors need a few thousand)
ROWS_PER_CALL = 256         # rows offered to the reservoir per sampled loss call
PRED_ELEMENTS = 1 << 20     # float32 values of the latest predictions kept (4 MiB)
UPDATE_SAMPLE = 4096        # elements per weight tensor used to measure update sizes
MAX_LEAVES = 2000           # leaf modules recorded per model
MAX_PARAMS = 4000           # parameter tensors tracked by name
INPUT_ROWS = 4096           # rows of model inputs kept
WALK_FIRST, WALK_EVERY = 3, 200   # backward calls whose autograd graph is walked
CHANGE_SAMPLE = 64          # elements per parameter compared at the end ("did it ever change?")
WINDOW = 20                 # sampled forwards per window of activation statistics
SATURATED = 4.0             # |pre-activation| beyond which sigmoid/tanh gradients are < 0.07 (sigmoid) / 0.0013 (tanh)
RATIO_KEEP = 20             # recent ‖g‖/‖w‖ values kept per weight


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


def _reissue(caught: list, seen: set) -> None:
    """Re-emit warnings raised inside a wrapped loss, attributed to the user's line
    (the loss's own stacklevel would point at this wrapper), once per line and
    message as Python's default filter would (catch_warnings resets its registry)."""
    if not caught:
        return
    f = sys._getframe(1)
    while f is not None and _internal(f.f_code.co_filename):
        f = f.f_back
    for w in caught:
        key = (str(w.message), w.category, f.f_code.co_filename if f else "", f.f_lineno if f else 0)
        if key in seen:
            continue
        seen.add(key)
        if f is None:
            warnings.warn(w.message, w.category)
        else:
            warnings.warn_explicit(w.message, w.category, f.f_code.co_filename, f.f_lineno,
                                   module=f.f_globals.get("__name__"), registry=f.f_globals.setdefault("__warningregistry__", {}))


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The user's model inside a DistributedDataParallel / DataParallel wrapper."""
    inner = getattr(module, "module", None)
    if type(module).__name__ in WRAPPERS and isinstance(inner, torch.nn.Module):
        return inner
    return module


class _Root:
    """Book-keeping for one top-level model."""

    def __init__(self, module: torch.nn.Module, index: int) -> None:
        self.module = module
        self.inner = unwrap(module)     # names are taken inside a DDP wrapper
        self.index = index
        self.names = {id(m): n for n, m in self.inner.named_modules()}
        if self.inner is not module:    # "" addresses the model itself: the wrapper, called by the script
            self.names[id(self.inner)], self.names[id(module)] = "module", ""
        self.leaves = {id(m) for m in module.modules() if next(iter(m.children()), None) is None}
        self.recording = True           # first forward: record the leaf modules
        self.last_leaf: tuple[Any, Any] | None = None   # (module, output) of the last leaf this forward
        self.prev: tuple[str, Any] | None = None          # (name, output) of the previous leaf, first forward
        self.input: torch.Tensor | None = None            # the data this forward was called with
        self.check_finite = False                         # a sampled training forward: look closer
        self.fingerprint: tuple | None = None             # of the previous sampled input batch
        # layers whose behaviour depends on train/eval mode
        self.mode_layers = any(isinstance(m, (torch.nn.Dropout, torch.nn.modules.batchnorm._BatchNorm))
                               for m in module.modules())

    def name_of(self, module: torch.nn.Module) -> str:
        """Qualified name; a module called by the model but not registered in it (kept in a
        plain Python list or dict) is named after that container: "hidden[0]"."""
        name = self.names.get(id(module))
        if name is None:
            name = "?"
            for attr, value in vars(self.inner).items():
                items = value.items() if isinstance(value, dict) else \
                    enumerate(value) if isinstance(value, (list, tuple)) else ()
                for key, item in items:
                    if item is module:
                        name = f"{attr}[{key!r}]" if isinstance(key, str) else f"{attr}[{key}]"
            self.names[id(module)] = name
            if next(iter(module.children()), None) is None:
                self.leaves.add(id(module))
        return name


def _compiling() -> bool:
    """Is torch.compile tracing this call? Then the hooks step aside: traced, they would
    break the graph at every Python-side read (and make torch warn with our frames), so
    the layers inside a compiled model are not observed; the report says so (trace.compiled)."""
    return _IS_COMPILING is not None and _IS_COMPILING()


_IS_COMPILING = getattr(getattr(torch, "compiler", None), "is_compiling", None) or \
    getattr(getattr(torch, "_dynamo", None), "is_compiling", None)


class Observer:
    def __init__(self, *, max_steps: int | None = None, deadline: float | None = None,
                 interventions: Iterable[Intervention] = (), seed: int = 0,
                 scope: Iterable[torch.nn.Module] | None = None, sample_every: int = SAMPLE_EVERY,
                 grads_at_step: bool = True, on_step: Callable[[int, float | None], None] | None = None) -> None:
        """on_step: called after every step of the primary optimizer with (steps so far,
        that step's loss or None), for progress display; it must be cheap, and what it
        raises is swallowed like any hook's error.
        scope: observe only these models (and optimizers holding their parameters),
        not every module and optimizer of the process (watch()).
        sample_every: after the first SAMPLE_FIRST, one step in this many is sampled.
        grads_at_step: read gradients in the optimizer's step pre-hook; False when the
        caller reads them itself through `observe_grads` (a closure computes them
        inside step(), as in Lightning)."""
        self.trace = Trace()
        self.sample_every = max(1, int(sample_every))
        self.grads_at_step = grads_at_step
        self._scope: set[int] | None = None
        self._scope_params: set[int] = set()
        if scope is not None:
            self._scope = {id(m) for model in scope for m in model.modules()}
            self._scope_params = {id(p) for model in scope for p in model.parameters()}
        self._opt_in_scope: dict[int, bool] = {}
        self.max_steps = max_steps
        self.deadline = deadline                  # time.monotonic() value
        self.on_step = on_step
        self.interventions = list(interventions)
        for iv in self.interventions:
            iv.bind(self)
        self._post_interventions = any(type(i).forward is not Intervention.forward for i in self.interventions)
        self._pre_interventions = any(type(i).forward_pre is not Intervention.forward_pre
                                      for i in self.interventions)
        self._loss_interventions = any(type(i).loss is not Intervention.loss for i in self.interventions)
        self._backward_interventions = any(type(i).before_backward is not Intervention.before_backward
                                           for i in self.interventions)
        self._gen = torch.Generator().manual_seed(seed)
        self._handles: list[Any] = []
        self._patches: list[tuple[Any, str, Any]] = []
        self._depth = 0
        self._roots: dict[int, _Root] = {}
        self._stack: list[_Root | None] = []      # roots currently inside forward
        self._out_nodes: dict[int, tuple[Any, _Root, ModuleCall | None, Any]] = {}
        self._pending: list[float] = []           # loss values of backward calls since the last step
        self._in_backward = False
        self._in_loss = False
        self._opts: dict[int, OptimizerInfo] = {}
        self._opt_objs: dict[int, torch.optim.Optimizer] = {}
        self._primary: int | None = None
        self._upd_before: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._upd_idx: dict[int, torch.Tensor] = {}
        self._params: dict[int, tuple[torch.Tensor, ParamInfo, torch.Tensor]] = {}   # id -> (p, info, first values)
        self._stepped = False                     # an optimizer stepped since the last backward
        self._stale = False                       # this step began with the last step's gradients
        self._hunt_nonfinite = False              # look for the first module with a NaN/Inf output
        self._warned: set = set()                 # loss warnings already shown
        self._warning_losses: set[str] = set()    # loss kinds whose calls raise warnings
        self._manual: list[tuple[torch.Tensor, torch.Tensor]] = []   # leaf samples, loops with no optimizer
        self._t0 = 0.0
        self._stop: str | None = None             # set once a budget is reached: every later hook raises again
        self.internal_errors = 0
        self.internal_error: str | None = None
        self.trace.inputs = RowReservoir(INPUT_ROWS, seed=3)

    def _sampled(self, i: int) -> bool:
        return i < SAMPLE_FIRST or i % self.sample_every == 0

    def _in_scope(self, module: torch.nn.Module) -> bool:
        if self._scope is None or id(module) in self._scope:
            return True
        inner = getattr(module, "module", None)          # DistributedDataParallel / DataParallel wrappers
        return isinstance(inner, torch.nn.Module) and id(inner) in self._scope

    def _opt_watched(self, opt: torch.optim.Optimizer) -> bool:
        """Out of scope: an optimizer that holds none of the watched models' parameters."""
        if self._scope is None:
            return True
        known = self._opt_in_scope.get(id(opt))
        if known is None:
            known = any(id(p) in self._scope_params for g in opt.param_groups for p in g["params"])
            self._opt_in_scope[id(opt)] = known
        return known

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
            self._patch(torch.optim.Optimizer, "__init__", self._wrap_optimizer_init(torch.optim.Optimizer.__init__))
            from torch.utils.data import DataLoader
            self._patch(DataLoader, "__iter__", self._wrap_loader_iter(DataLoader.__iter__))
            self._patch(torch.Tensor, "backward", self._wrap_backward(torch.Tensor.backward))
            self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self, final: bool = True) -> None:
        """Remove every hook and patch; `final=False` keeps the open statistics windows
        open, for an observer that will be entered again (benchmarks/overhead.py)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for obj, name, orig in reversed(self._patches):
            setattr(obj, name, orig)
        self._patches.clear()
        self._out_nodes.clear()
        self._stack.clear()
        if final:
            _close_windows(self.trace)
        self.trace.wall_s = time.monotonic() - self._t0

    def release(self) -> None:
        """Drop every reference to the script's objects (models, parameters, optimizers
        and their state) once finish() has run: the trace keeps only its own small copies.
        diagnose_script calls it before the re-runs, which otherwise run beside a parent
        still holding the observed run's weights, gradients and optimizer state (250 of the
        600 MiB of benchmarks/memory.py's 21 M-parameter MLP with SGD+momentum)."""
        self._roots.clear()
        self._params.clear()
        self._opt_objs.clear()
        self._upd_idx.clear()
        self._manual, self._upd_before = [], []

    def snapshot(self, namespace: dict[str, Any] | None = None) -> Trace:
        """A copy of the trace as it stands, complete enough to judge, while the
        observer keeps recording (watch().report() in the middle of a run)."""
        self.finish(namespace)
        snap = copy.deepcopy(self.trace)
        _close_windows(snap)
        snap.wall_s = time.monotonic() - self._t0
        return snap

    def _patch(self, obj: Any, name: str, new: Any) -> None:
        self._patches.append((obj, name, getattr(obj, name)))
        setattr(obj, name, new)

    def stop(self, reason: str) -> None:
        """End the script at the next hook (and every hook after it, in case the script
        swallows the first StopTraining with a bare `except:`)."""
        self._stop = reason

    # ---- naming and the end of the run ------------------------------------
    @_safe
    def finish(self, namespace: dict[str, Any] | None = None) -> None:
        """After the script: name the models (the script's variable names), name the
        parameters, and check which parameters ever changed."""
        for root in self._roots.values():
            info = self.trace.models[root.index]
            if namespace and info.var == type(root.module).__name__:
                for var, value in namespace.items():
                    if value is root.module and not var.startswith("_"):
                        info.var = var
                        break
        names: dict[int, str] = {}
        for root in self._roots.values():
            var = self.trace.models[root.index].var
            for mname, module in root.inner.named_modules():
                for pname, p in module.named_parameters(recurse=False):
                    names.setdefault(id(p), ".".join(x for x in (var, mname, pname) if x))
            for attr, value in vars(root.inner).items():     # modules kept in plain lists
                items = value.items() if isinstance(value, dict) else \
                    enumerate(value) if isinstance(value, (list, tuple)) else ()
                for key, item in items:
                    if isinstance(item, torch.nn.Module):
                        for pname, p in item.named_parameters():
                            names.setdefault(id(p), f"{var}.{attr}[{key}].{pname}")
        for i, (p, info, first) in enumerate(self._params.values()):
            info.name = names.get(id(p), f"param {i} {tuple(p.shape)}")
            if str(id(p)) in self.trace.layer_grads:     # merged: finish() may run more than once (snapshots)
                named = self.trace.layer_grads.setdefault(info.name, [])
                named.extend(self.trace.layer_grads.pop(str(id(p))))
                del named[:-RATIO_KEEP]
            if str(id(p)) in self.trace.layer_grad_norms:
                pts = self.trace.layer_grad_norms.pop(str(id(p)))
                if info.name in self.trace.layer_grad_norms:          # a snapshot named it before
                    for step, v in pts.points:
                        self.trace.layer_grad_norms[info.name].add(step, v)
                else:
                    self.trace.layer_grad_norms[info.name] = pts
            now = p.detach().reshape(-1)[:CHANGE_SAMPLE].to("cpu", torch.float32)
            info.changed = bool((now != first).any()) if now.numel() == first.numel() else True

    def unoptimized_params(self) -> list[torch.Tensor]:
        """Parameters the loss reaches that no optimizer holds."""
        return [p for p, info, _ in self._params.values() if info.reached and not info.in_optimizer]

    def current_model(self) -> torch.nn.Module | None:
        """The top-level model whose forward is running."""
        return self._stack[-1].module if self._stack and self._stack[-1] is not None else None

    def _track(self, p: torch.Tensor, in_optimizer: bool) -> ParamInfo | None:
        entry = self._params.get(id(p))
        if entry is None:
            if len(self._params) >= MAX_PARAMS:
                return None
            info = ParamInfo(name="", shape=list(p.shape), requires_grad=p.requires_grad, in_optimizer=in_optimizer)
            first = p.detach().reshape(-1)[:CHANGE_SAMPLE].to("cpu", torch.float32, copy=True)
            self._params[id(p)] = (p, info, first)
            self.trace.params.append(info)
            return info
        entry[1].in_optimizer |= in_optimizer
        return entry[1]

    # ---- forward ----------------------------------------------------------
    def _forward_pre(self, module: torch.nn.Module, args: tuple) -> Any:
        if _compiling():                 # inside torch.compile's tracing: see _compiling
            self.trace.compiled = True
            return None
        if self._stop is not None:
            raise StopTraining(self._stop)
        return self._forward_pre_safe(module, args)

    @_safe
    def _forward_pre_safe(self, module: torch.nn.Module, args: tuple) -> Any:
        if self._depth == 0 and not isinstance(module, torch.nn.modules.loss._Loss) and self._in_scope(module):
            self._enter_root(module, args)
        elif self._depth == 0:
            self._stack.append(None)
        self._depth += 1
        replaced = None
        if self._pre_interventions and self._stack and self._stack[-1] is not None:
            root = self._stack[-1]
            where = (type(root.module).__name__, root.name_of(module))
            for iv in self.interventions:
                r = iv.forward_pre(where, args)
                if r is not None:
                    replaced = args = r
        return replaced

    def _enter_root(self, module: torch.nn.Module, args: tuple) -> None:
        root = self._roots.get(id(module))
        if root is None:
            info = ModelInfo(var=caller_name(module) or type(module).__name__, type=type(module).__name__,
                             params=sum(p.numel() for p in module.parameters()),
                             trainable=sum(p.numel() for p in module.parameters() if p.requires_grad))
            root = _Root(module, len(self.trace.models))
            self.trace.models.append(info)
            self._roots[id(module)] = root
            info.symmetric = _symmetric_weights(root.inner)
        info = self.trace.models[root.index]
        info.calls += 1
        if torch.is_grad_enabled() and module.training:
            info.training_calls += 1
        self.trace.forward_calls += 1
        root.last_leaf, root.prev = None, None
        # look for NaN/Inf at every leaf on sampled training forwards, and on all after a NaN loss
        root.check_finite = torch.is_grad_enabled() and (self._sampled(info.calls - 1) or self._hunt_nonfinite)
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        root.input = x if x is not None and x.is_floating_point() and x.grad_fn is None else None
        if x is not None and root.check_finite and x.numel() and x.dim() >= 1:
            fp = (tuple(x.shape), float(x.detach().float().sum()), float(x.detach().reshape(-1)[:64].float().sum()))
            if root.fingerprint is not None:
                self.trace.batches_compared += 1
                self.trace.same_batches += fp == root.fingerprint
            root.fingerprint = fp
        if root.input is not None and root.input.dim() >= 1 and self._sampled(info.calls - 1) and torch.is_grad_enabled():
            if not bool(torch.isfinite(root.input).all()):
                self.trace.input_nonfinite += 1
            if root.input.numel() and root.input.shape[0]:
                self.trace.inputs.add_many(root.input, 64)
                self.trace.input_source = "model input"
        self._stack.append(root)

    @_safe
    def _forward_post(self, module: torch.nn.Module, args: tuple, output: Any) -> Any:
        if _compiling():
            return None
        self._depth = max(0, self._depth - 1)
        root = self._stack[-1] if self._stack else None
        replaced = None
        if root is not None:
            if self._post_interventions:
                where = (type(root.module).__name__, root.name_of(module))
                for iv in self.interventions:
                    r = iv.forward(where, args, output)
                    if r is not None:
                        replaced = output = r
            if self._depth > 0:
                self._leaf(root, module, args, output)
            else:
                self._root_done(root, output)
        if self._depth == 0 and self._stack:
            self._stack.pop()
        return replaced

    def _leaf(self, root: _Root, module: torch.nn.Module, args: tuple, output: Any) -> None:
        name = root.name_of(module)
        if id(module) not in root.leaves:
            return                                     # containers: only leaves describe the path
        if root.check_finite and self.trace.nonfinite_module is None and self.trace.nonfinite_weights is None \
                and isinstance(output, torch.Tensor) \
                and output.is_floating_point() and not bool(torch.isfinite(output).all()):
            self._nonfinite_output(root, module, name, args)
        if root.check_finite and isinstance(output, torch.Tensor):
            self._activation_stats(root, module, name, args, output)
        if root.recording:
            leaves = self.trace.models[root.index].leaves
            x = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if len(leaves) < MAX_LEAVES:
                leaves.append(ModuleCall(
                    name=name, type=type(module).__name__,
                    out_shape=list(output.shape) if isinstance(output, torch.Tensor) else None,
                    params=sum(p.numel() for p in module.parameters(recurse=False)),
                    attrs=_attrs(module),
                    input_from=root.prev[0] if root.prev is not None and x is root.prev[1] else None,
                    in_op=type(x.grad_fn).__name__ if x is not None and x.grad_fn is not None else None,
                    training=module.training))
            root.prev = (name, output)
        if isinstance(output, torch.Tensor):
            root.last_leaf = (module, output)

    def _activation_stats(self, root: _Root, module: torch.nn.Module, name: str, args: tuple,
                          output: torch.Tensor) -> None:
        """Dead ReLU units and saturated sigmoid/tanh inputs, per window of sampled forwards."""
        kind = type(module).__name__
        if kind not in ("ReLU", "Tanh", "Sigmoid") or output.dim() < 2 or output.shape[0] == 0:
            return
        key = f"{self.trace.models[root.index].var}.{name}"
        st = self.trace.activations.get(key)
        if st is None:
            st = self.trace.activations[key] = {"type": kind, "units": int(output.shape[1]), "n": 0,
                                                "dead_share": None, "saturated": None, "_acc": None, "_sat": 0.0}
        st["n"] += 1
        if kind == "ReLU":                        # (N, C, ...) -> (C,): did the unit fire for any example?
            active = (output.detach() > 0).reshape(output.shape[0], output.shape[1], -1).any(2).any(0)
            st["_acc"] = active if st["_acc"] is None or st["_acc"].shape != active.shape else st["_acc"] | active
        else:
            x = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if x is not None:
                st["_sat"] += float((x.detach().abs() > SATURATED).float().mean())
        if st["n"] % WINDOW == 0:                 # close the window
            if st["_acc"] is not None:
                st["dead_share"] = 1.0 - float(st["_acc"].float().mean())
            st["saturated"] = st["_sat"] / WINDOW if kind != "ReLU" else None
            st["_acc"], st["_sat"] = None, 0.0

    def _nonfinite_output(self, root: _Root, module: torch.nn.Module, name: str, args: tuple) -> None:
        """A leaf produced NaN/Inf. It is the origin if its inputs and weights were finite;
        otherwise remember the first one whose weights were already non-finite."""
        where = f"{self.trace.models[root.index].var}.{name} ({type(module).__name__})"
        inputs_ok = all(bool(torch.isfinite(a).all()) for a in args
                        if isinstance(a, torch.Tensor) and a.is_floating_point())
        weights_ok = all(bool(torch.isfinite(p).all()) for p in module.parameters(recurse=False))
        if inputs_ok and weights_ok:
            self.trace.nonfinite_module, self.trace.nonfinite_step = where, self.trace.steps
        elif not weights_ok and self.trace.nonfinite_weights is None:
            self.trace.nonfinite_weights = where

    def _root_done(self, root: _Root, output: Any) -> None:
        if root.recording and self.trace.models[root.index].leaves:
            root.recording = False
        root.prev = None
        final = None
        if root.last_leaf is not None and (root.last_leaf[1] is output or _passed_through(root.last_leaf[1], output)):
            module = root.last_leaf[0]
            final = ModuleCall(name=root.name_of(module), type=type(module).__name__,
                               out_shape=list(output.shape), params=0, attrs=_attrs(module))
        root.last_leaf = None
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            if root.mode_layers and not root.module.training:
                self.trace.models[root.index].eval_calls_with_grad += 1
            if len(self._out_nodes) > 16:
                self._out_nodes.clear()
            # strong references: the node's id stays valid, the input pairs with the target
            self._out_nodes[id(output.grad_fn)] = (output.grad_fn, root, final, root.input)
        root.input = None

    # ---- loss -------------------------------------------------------------
    def _wrap_loss(self, kind: str, orig: Callable) -> Callable:
        @functools.wraps(orig)
        def loss_fn(input, target, *args, **kwargs):
            if _compiling():                            # a loss inside compiled code: not observed
                return orig(input, target, *args, **kwargs)
            if self._in_loss or not (isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor)):
                return orig(input, target, *args, **kwargs)
            self._in_loss = True
            try:
                if self._loss_interventions:
                    for iv in self.interventions:
                        r = iv.loss(kind, input, target)
                        if r is not None:
                            input, target = r
                info = self._on_loss(kind, input, target, kwargs)   # before: a call that raises is seen too
                if kind in self._warning_losses or info is None or info.calls == 1:
                    # catch_warnings resets every warning registry of the process, so only the
                    # first call of each loss, and losses that did warn, pay for re-attribution
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        out = orig(input, target, *args, **kwargs)
                    if caught:
                        self._warning_losses.add(kind)
                    _reissue(caught, self._warned)
                else:
                    out = orig(input, target, *args, **kwargs)
                if info is not None and self._sampled(info.calls - 1) and isinstance(out, torch.Tensor) \
                        and out.numel() == 1:             # sampled: float() waits for the device
                    info.min_value = min(info.min_value, float(out.detach()))
                return out
            finally:
                self._in_loss = False
        return loss_fn

    @_safe
    def _on_loss(self, kind: str, pred: torch.Tensor, target: torch.Tensor, kwargs: dict) -> LossInfo:
        info = next((l for l in self.trace.losses if l.kind == kind), None)
        if info is None:
            info = LossInfo(kind=kind, targets=RowReservoir(TARGET_ROWS, seed=1),
                            pairs=RowReservoir(INPUT_ROWS, seed=4))
            self.trace.losses.append(info)
        info.calls += 1
        if info.calls == 1:
            info.reduction = str(kwargs.get("reduction", "mean"))
            info.pred_shape, info.target_shape = list(pred.shape), list(target.shape)
            info.pred_dtype, info.target_dtype = str(pred.dtype), str(target.dtype)
        hit = self._find_output(pred) if pred.grad_fn is not None else None
        if info.model is None and hit is not None:
            _, root, final, _ = hit
            info.model = root.index
            info.final_module = final
            if final is not None:
                info.final_module_id = (type(root.module).__name__, final.name)
        if info.final_op is None and pred.grad_fn is not None:
            info.final_op = type(self._skip_views(pred.grad_fn)).__name__
        if not self._sampled(info.calls - 1) or pred.grad_fn is None:
            return info                          # evaluation calls (no graph) are not the training signal
        if pred.is_floating_point() and not bool(torch.isfinite(pred.detach()).all()):
            info.pred_nonfinite += 1
        if target.is_floating_point() and not bool(torch.isfinite(target).all()):
            info.target_nonfinite += 1
        if pred.dim() > 0 and target.dim() > 0 and pred.shape[0] == target.shape[0] \
                and pred.numel() > 0 and target.numel() > 0:
            n = pred.shape[0]
            idx = torch.randperm(n, generator=self._gen)[:ROWS_PER_CALL] if n > ROWS_PER_CALL else None
            t = target.detach() if idx is None else target.detach()[idx.to(target.device)]
            info.targets.add(t)
            # whole rows, at most PRED_ELEMENTS values: a row of (B, C, H, W) segmentation logits is
            # C*H*W of them: 16 rows of 21x512x512 were 352 MB, kept until the next sampled call
            k = max(1, min(n if idx is None else idx.numel(), PRED_ELEMENTS // max(1, pred.numel() // n)))
            pr = pred.detach()[:k] if idx is None else pred.detach()[idx[:k].to(pred.device)]
            info.last_preds = pr.reshape(k, -1).to("cpu", torch.float32, copy=True)
            x = hit[3] if hit is not None else None
            if x is not None and x.dim() >= 1 and x.shape[0] == n:
                xs = x if idx is None else x[idx.to(x.device)]
                xs = xs.reshape(xs.shape[0], -1).to("cpu", torch.float32)
                info.input_dim = xs.shape[1]
                info.pairs.add(torch.cat([xs, t.reshape(t.shape[0], -1).to("cpu", torch.float32)], 1))
        return info

    def _skip_views(self, node: Any) -> Any:
        hops = 0
        while node is not None and hops < 8 and node_name(node) in VIEW_NODES and node.next_functions:
            node, hops = node.next_functions[0][0], hops + 1
        return node

    def _find_output(self, pred: torch.Tensor) -> tuple | None:
        """The (node, root, final module, input) entry of the model output `pred` comes from."""
        node, hops = pred.grad_fn, 0
        while node is not None and hops < 8:
            hit = self._out_nodes.get(id(node))
            if hit is not None and hit[0] is node:
                return hit
            if node_name(node) not in VIEW_NODES or not node.next_functions:
                return None
            node, hops = node.next_functions[0][0], hops + 1
        return None

    # ---- backward ---------------------------------------------------------
    def _wrap_backward(self, orig: Callable) -> Callable:
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
                    if self._backward_interventions:
                        for iv in self.interventions:
                            iv.before_backward(list(self._opt_objs.values()))
                return orig(*args, **kwargs)
            finally:
                self._in_backward = False
                self._depth = 0                   # a forward that raised cannot skew later calls
        return backward

    @_safe
    def _on_backward(self, loss: torch.Tensor) -> None:
        trace = self.trace
        trace.backward_calls += 1
        if loss.numel() == 1:
            value = float(loss.detach())
            self._pending.append(value)
            trace.backward_loss.append(value)
            if not math.isfinite(value) and trace.nonfinite_module is None:
                self._hunt_nonfinite = True
        # Stale gradients: the first backward after a step finds the primary optimizer's
        # gradients still in place. Only a suspicion until that optimizer's next step: a later
        # backward that finds them cleared (a GAN's D, zeroed after G's backward wrote to it)
        # lifts it; one still standing at the step counts (_step_post_safe).
        if self._stepped:                         # the first backward after a step
            self._stepped = False
            self._stale = self._primary_has_grads()
        elif self._stale and not self._primary_has_grads():
            self._stale = False
        n = trace.backward_calls
        if n <= WALK_FIRST or n % WALK_EVERY == 0:
            self._walk(loss)
        if not self._opts and self._manual:       # no optimizer: did the script update the leaves itself?
            if any(bool((p.detach().reshape(-1)[:CHANGE_SAMPLE].cpu() != before).any()) for p, before in self._manual):
                trace.manual_updates += 1
            self._manual = [(p, p.detach().reshape(-1)[:CHANGE_SAMPLE].to("cpu", copy=True)) for p, _ in self._manual]

    def _primary_has_grads(self) -> bool:
        """Do the primary optimizer's first parameters hold non-zero gradients now?"""
        opt = self._opt_objs.get(self._primary)
        if opt is None:
            return False
        # count_nonzero: no bool copy of each gradient (see _check_grads); this runs every step
        # when the script zeroes gradients in place (zero_grad(set_to_none=False))
        return any(p.grad is not None and bool(torch.count_nonzero(p.grad.detach()))
                   for p in [p for g in opt.param_groups for p in g["params"]][:4])

    def _walk(self, loss: torch.Tensor) -> None:
        skip = {id(b) for r in self._roots.values() for b in r.module.buffers()}
        view = graph.walk(loss, skip)
        for leaf in view.leaves:
            info = self._track(leaf, in_optimizer=False)
            if info is not None:
                info.reached = True
        if not self._opts and not self._manual:
            self._manual = [(p, p.detach().reshape(-1)[:CHANGE_SAMPLE].to("cpu", copy=True))
                            for p in view.leaves[:8]]
        if self.trace.input_source != "model input" and view.data:
            # no model input seen: take the largest data tensor the graph saved (x in w * x + b)
            op, data = max(view.data, key=lambda od: od[1].numel())
            if data.dim() >= 1 and data.shape[0] > 1:
                self.trace.inputs.add_many(data.reshape(data.shape[0], -1), 64)
                self.trace.input_source = f"data saved by {op}"

    def _wrap_loader_iter(self, orig: Callable) -> Callable:
        @functools.wraps(orig)
        def __iter__(loader):
            self._seen_loader(loader)
            return orig(loader)
        return __iter__

    @_safe
    def _seen_loader(self, loader: Any) -> None:
        if len(self.trace.loaders) < 16 and not any(l["id"] == id(loader) for l in self.trace.loaders):
            try:
                n = len(loader.dataset)
            except TypeError:
                n = None
            self.trace.loaders.append({"id": id(loader), "dataset": n, "batch_size": loader.batch_size})

    # ---- optimizer --------------------------------------------------------
    def _wrap_optimizer_init(self, orig: Callable) -> Callable:
        @functools.wraps(orig)
        def __init__(opt, *args, **kwargs):
            orig(opt, *args, **kwargs)
            self._seen_optimizer(opt)           # known before its first step (or a crash before it)
        return __init__

    @_safe
    def _seen_optimizer(self, opt: torch.optim.Optimizer) -> None:
        if type(opt).__module__.startswith("torchdoctor") or not self._opt_watched(opt):
            return
        self._opt_info(opt, primary=False)

    def _opt_info(self, opt: torch.optim.Optimizer, primary: bool = True) -> OptimizerInfo:
        info = self._opts.get(id(opt))
        if info is None:
            info = OptimizerInfo(
                type=type(opt).__name__,
                groups=[{k: _plain(v) for k, v in g.items() if k != "params"} for g in opt.param_groups],
                params=sum(len(g["params"]) for g in opt.param_groups))
            self._opts[id(opt)] = info
            self._opt_objs[id(opt)] = opt
            self.trace.optimizers.append(info)
            for g in opt.param_groups:
                for p in g["params"]:
                    self._track(p, in_optimizer=True)
        if primary and self._primary is None:     # the first optimizer that steps
            self._primary = id(opt)
            self.trace.optimizers.remove(info)
            self.trace.optimizers.insert(0, info)
        return info

    def _step_pre(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if self._stop is not None:
            raise StopTraining(self._stop)
        self._step_pre_safe(opt)

    @_safe
    def _step_pre_safe(self, opt: torch.optim.Optimizer) -> None:
        if not self._opt_watched(opt):
            return
        self._opt_info(opt)
        for iv in self.interventions:
            iv.step_pre(opt)
        if id(opt) != self._primary:
            return
        step = self.trace.steps
        self.trace.lr.append(float(opt.param_groups[0]["lr"]))
        if self._sampled(step):
            if self.grads_at_step:
                self._check_grads(opt)
            self._upd_before = []
            for g in opt.param_groups:
                for p in g["params"]:
                    if p.dim() >= 2:                     # weight matrices: biases start at 0
                        flat = p.detach().reshape(-1)
                        idx = self._upd_idx.get(id(p))
                        if idx is None:
                            # Never randperm(numel)[:n] on a large weight: the full permutation is
                            # int64, 8 bytes per weight element (twice the float32 weight), and the
                            # slice, a view, kept all of it alive: 168 MB held for a 21 M-parameter
                            # MLP (benchmarks/memory.py). Drawn with replacement instead: n * 8 bytes.
                            numel = flat.numel()
                            idx = torch.randperm(numel, generator=self._gen) if numel <= UPDATE_SAMPLE \
                                else torch.randint(numel, (UPDATE_SAMPLE,), generator=self._gen)
                            idx = idx.to(flat.device)
                            self._upd_idx[id(p)] = idx
                        self._upd_before.append((p, idx, flat[idx].clone()))

    @_safe
    def observe_grads(self, opt: torch.optim.Optimizer) -> None:
        """Read the gradients now (with grads_at_step=False): called by an integration at
        the point where they are final, e.g. Lightning's on_before_optimizer_step, after
        AMP has unscaled them. Counts towards the step about to be taken."""
        if self._opt_watched(opt):
            self._opt_info(opt)
            if id(opt) == self._primary and self._sampled(self.trace.steps):
                self._check_grads(opt)

    def _check_grads(self, opt: torch.optim.Optimizer) -> None:
        """Gradient norm, and which parameters got a gradient, at a sampled step."""
        norms, any_grad = [], False
        for opt_ in self._opt_objs.values():
            for g in opt_.param_groups:
                for p in g["params"]:
                    entry = self._params.get(id(p))
                    # count_nonzero, not ne(0).any() (or any()): those build a bool copy of the
                    # gradient, 1 byte per element (16 MB for a 4096x4096 weight), on top of the
                    # script's own peak (weights, gradients and optimizer state all live here)
                    has = p.grad is not None and bool(torch.count_nonzero(p.grad.detach()))
                    if entry is not None:
                        entry[1].grad_checks += 1
                        entry[1].got_grad += has
                        if has and opt_ is opt and p.dim() >= 2:
                            w = float(torch.linalg.vector_norm(p.detach().float()))
                            if w > 0:
                                r = self.trace.layer_grads.setdefault(str(id(p)), [])
                                gn = float(torch.linalg.vector_norm(p.grad.detach().float()))
                                r.append(gn / w)
                                del r[:-RATIO_KEEP]
                                self.trace.layer_grad_norms.setdefault(str(id(p)), StepPoints()).add(
                                    self.trace.steps, gn)
                    if has:
                        any_grad = True
                        if opt_ is opt:
                            norms.append(torch.linalg.vector_norm(p.grad.detach().float()))
        self.trace.grad_steps_checked += 1
        if not any_grad:
            self.trace.zero_grad_steps += 1
        if norms:
            self.trace.grad_norm.append(float(torch.linalg.vector_norm(torch.stack(norms))))

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
        if not self._opt_watched(opt):
            return
        info = self._opt_info(opt)
        info.steps += 1
        for iv in self.interventions:
            iv.step_post(opt)
        if id(opt) != self._primary:
            return
        self._stepped = True
        self.trace.steps += 1
        if self._stale:                           # still stale at this step: it stepped on them
            self.trace.stale_grad_steps += 1
            self._stale = False
        loss = None
        if self._pending:
            loss = sum(self._pending) / len(self._pending)
            self.trace.loss.append(loss)
            self._pending.clear()
        if self.on_step is not None:
            self.on_step(self.trace.steps, loss)
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


def _passed_through(leaf_out: Any, output: Any) -> bool:
    """`output` is `leaf_out` passed through DistributedDataParallel's sink (a clone)."""
    if not isinstance(output, torch.Tensor) or not isinstance(leaf_out, torch.Tensor):
        return False
    node, leaf_node = output.grad_fn, leaf_out.grad_fn
    return node is not None and leaf_node is not None and node_name(node) == "_DDPSinkBackward" \
        and any(n is leaf_node for n, _ in node.next_functions)


def _close_windows(trace: Trace) -> None:
    """Activation windows not yet closed: use what they hold."""
    for st in trace.activations.values():
        if "_acc" not in st:
            continue
        if st["dead_share"] is None and st["_acc"] is not None:
            st["dead_share"] = 1.0 - float(st["_acc"].float().mean())
        if st["saturated"] is None and st["type"] != "ReLU" and st["n"] % WINDOW:
            st["saturated"] = st["_sat"] / (st["n"] % WINDOW)
        st.pop("_acc", None), st.pop("_sat", None)


def _symmetric_weights(module: torch.nn.Module) -> list[dict]:
    """Weight matrices (at the first forward, before any step) whose rows are all identical."""
    out = []
    for name, m in module.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2 and w.shape[0] >= 2 and w.requires_grad:
            rows = w.detach().reshape(w.shape[0], -1)
            if bool((rows == rows[0]).all()):
                out.append({"name": name, "type": type(m).__name__, "units": int(w.shape[0]),
                            "value": float(rows[0, 0])})
    return out


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
