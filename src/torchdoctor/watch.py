"""`with torchdoctor.watch(model, optimizer) as doctor:` — observe any training loop.

Observe-only and cheap enough to leave on: the same hooks as `torchdoctor run`,
scoped to the given model (and the optimizers holding its parameters), with the
costlier statistics sampled less often. Nothing is re-run, so findings that need
a confirmation run stay "suspected" (analytic confirmations still apply);
`diagnose()` or `torchdoctor run` confirms them. `doctor.report()` judges the
run so far at any time; after the block it returns the final report.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from .capture.hooks import Observer
from .capture.script import ScriptResult
from .report.model import Report

# After the first 50 steps (every one sampled), one step in WATCH_SAMPLE_EVERY
# gets the costlier statistics (gradient norms, update sizes, activation and
# NaN scans). 50 keeps the default mode within the 3% overhead target of
# benchmarks/overhead.py on mid-size CPU models; `sample_every=10` is what
# `torchdoctor run` uses.
WATCH_SAMPLE_EVERY = 50


class Watch:
    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 sample_every: int = WATCH_SAMPLE_EVERY, grads_at_step: bool = True,
                 name: str = "model") -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"watch() needs a torch.nn.Module, not {type(model).__name__}")
        if optimizer is not None and not hasattr(optimizer, "param_groups"):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, not {type(optimizer).__name__}")
        self.model, self.optimizer, self.name = model, optimizer, name
        self.observer = Observer(scope=[model], sample_every=sample_every, grads_at_step=grads_at_step)
        if optimizer is not None:
            inner = getattr(optimizer, "optimizer", optimizer)      # wrappers (accelerate, Lightning)
            self.observer._opt_in_scope[id(inner)] = True
        self._final: Report | None = None
        self._outcome = ScriptResult("running")
        self._active = False
        self._t0 = 0.0

    # ---- lifetime ------------------------------------------------------------
    def start(self) -> "Watch":
        if self._active:
            return self
        self._t0 = time.monotonic()
        self.observer.__enter__()
        self._active, self._final = True, None
        return self

    def stop(self, exc: BaseException | None = None) -> Report:
        """Remove every hook and build the final report (idempotent)."""
        if self._active:
            self._active = False
            self.observer.remove()
            if isinstance(exc, KeyboardInterrupt):
                self._outcome = ScriptResult("interrupted", exit_code=130, error="KeyboardInterrupt")
            elif exc is not None:
                text = str(exc).strip().splitlines()
                self._outcome = ScriptResult("crashed", exit_code=1,
                                             error=f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)
            else:
                self._outcome = ScriptResult("finished")
            self._final = self._build(final=True)
        if self._final is None:
            self._final = self._build(final=True)
        return self._final

    def __enter__(self) -> "Watch":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(exc)                       # never swallows the loop's own exception

    # ---- for integrations ----------------------------------------------------
    def observe_grads(self, optimizer: Any) -> None:
        """Read gradients now (integrations whose optimizer step runs a closure)."""
        if self._active:
            self.observer.observe_grads(getattr(optimizer, "optimizer", optimizer))

    # ---- findings --------------------------------------------------------------
    def report(self) -> Report:
        """The diagnosis of the steps seen so far (the final one after the block)."""
        if self._final is not None and not self._active:
            return self._final
        return self._build(final=False)

    def _build(self, final: bool) -> Report:
        from .doctor import build_report, judge, rank
        from .capture import distributed
        ns = {self.name: self.model}
        # a submodule that the loop calls directly (Lightning's `self.net(x)`) is named by its path
        ns.update((f"{self.name}.{path}", m) for path, m in self.model.named_modules() if path)
        trace = self.observer.snapshot(ns) if not final else self._finished_trace(ns)
        trace, dist_notes = distributed.combine(trace)
        notes: list[str] = list(dist_notes)
        findings = rank(judge(trace, notes))
        result = self._outcome if final else ScriptResult("running")
        report = build_report(trace, findings, result, None, [])
        report.notes.extend(notes)
        report.notes.append("Observed only (watch): findings that need a confirmation run stay suspected; "
                            "torchdoctor.diagnose() or `torchdoctor run` tests them.")
        if self.observer.internal_errors:
            report.notes.append(f"torchdoctor's observation hit an internal error {self.observer.internal_errors} "
                                f"time(s) and recorded less than usual: {self.observer.internal_error}")
        report.wall_s = {"observe": round(time.monotonic() - self._t0, 3), "verify": 0.0,
                         "total": round(time.monotonic() - self._t0, 3)}
        return report

    def _finished_trace(self, ns: dict[str, Any]):
        self.observer.finish(ns)
        return self.observer.trace


def watch(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
          sample_every: int = WATCH_SAMPLE_EVERY) -> Watch:
    """Observe the training of `model` inside a `with` block; `.report()` gives the findings."""
    return Watch(model, optimizer, sample_every=sample_every)
