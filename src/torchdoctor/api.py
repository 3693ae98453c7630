"""The Python entry points: `diagnose()` (the whole pipeline on a model handed
over in Python) and `watch()` (observe-only, for any training loop).

`diagnose` trains deep copies: the observed run and every confirmation run start
from copies of the caller's model, optimizer, loss and scheduler, seeded alike
so they see the same batches, and the caller's RNG states are restored at the
end. The caller's objects are never touched.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from .capture.hooks import Observer, StopTraining
from .capture.script import ScriptResult
from .checks.base import RunOutcome
from .checks.optim._lr import attach_lr_range, wants_lr_range
from .doctor import VERIFY_STEPS, Progress, _noop, build_report, judge, rank, test_suspicions
from .experiments import loop
from .experiments.interventions import Intervention
from .experiments.surgery import rebuild_optimizer
from .report.model import Report



def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


class _Session:
    """The caller's objects and data, from which every run takes fresh copies."""

    def __init__(self, model, loss_fn, data, optimizer, scheduler, batch_fn, batch_size, seed):
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.batches = loop.Batches(data, batch_size=batch_size)
        self.batch_fn, self.seed = batch_fn, seed

    def run(self, steps: int, interventions: list[Intervention] = (), observer: Observer | None = None,
            on_step: Callable[[int, float], None] | None = None) -> tuple[Observer, ScriptResult]:
        """Train fresh copies for `steps` steps under an observer applying `interventions`."""
        t = loop.clone(self.model, self.optimizer, self.loss_fn, self.scheduler)
        for iv in interventions:
            if hasattr(iv, "transform"):                  # structural change (Widen): new parameters
                t.optimizer = rebuild_optimizer(t.optimizer, iv.transform(t.model), t.scheduler)
        obs = observer or Observer(max_steps=steps, interventions=interventions)
        result = ScriptResult("finished")
        with loop.preserved_rng(self.seed):
            try:
                with obs:
                    loop.train(t, self.batches.stream(), steps, batch_fn=self.batch_fn, on_step=on_step)
            except StopTraining as e:
                result = ScriptResult(e.reason)
            except loop.DataError:
                raise
            except KeyboardInterrupt:
                result = ScriptResult("interrupted", exit_code=130, error="KeyboardInterrupt")
            except Exception as e:                        # the model or the loss raised
                result = ScriptResult("crashed", exit_code=1, error=_one_line(e))
        obs.finish({"model": t.model, "loss_fn": t.loss_fn})
        return obs, result


def diagnose(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Any,
             optimizer: torch.optim.Optimizer | None = None, *, steps: int = 1000, verify: bool = True,
             verify_steps: int | None = None, batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
             batch_size: int | None = None, scheduler: Any = None, lr_range: bool = True, seed: int = 0,
             progress: Progress | None = None) -> Report:
    """Train a copy of `model` for `steps` steps, diagnose the run, test each suspicion
    by training another copy with one change, and return the Report.

    data:      a DataLoader, any iterable of batches, an (inputs, targets) pair of tensors,
               or a function returning a batch. Batches are (inputs, target) tuples,
               (x1, …, xk, target) tuples, or dicts with an input and a target key;
               `batch_fn(batch) -> (inputs, target)` maps any other batch.
    optimizer: trained as a copy; without one, Adam(lr=1e-3).
    verify:    run the confirmation runs (each `verify_steps`, default min(steps, 1000)).
    lr_range:  when a learning-rate finding is raised, run the LR range test and test
               its suggestion too.
    progress:  called with (event, **info) as the work goes on; nothing is printed.
    The caller's model, optimizer, loss, scheduler and RNG states are left exactly as they were.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (an nn.MSELoss(), F.cross_entropy…), not {type(loss_fn).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, not {type(optimizer).__name__}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, not {steps!r}")
    progress = progress or _noop
    t0 = time.monotonic()
    session = _Session(model, loss_fn, data, optimizer, scheduler, batch_fn, batch_size, seed)
    with loop.preserved_rng():                     # whatever happens, the caller's RNG comes back
        progress("observe_start", script="diagnose()", steps=steps)
        on_step = None if progress is _noop else \
            (lambda i, l: progress("observe_step", step=i, steps=steps, loss=l))    # float(loss): a sync
        observer, result = session.run(steps, on_step=on_step)
        trace = observer.trace
        observe_s = time.monotonic() - t0
        progress("observe_done", steps=trace.steps, outcome=result.outcome, wall_s=observe_s)
        notes: list[str] = []
        findings = judge(trace, notes, owns_model=True)
        probes: dict[str, Any] = {}
        if lr_range and wants_lr_range(findings):
            probes = _add_lr_range(session, findings, notes, progress)
        verify_s = 0.0
        budget = min(trace.steps, verify_steps or VERIFY_STEPS)
        if verify and findings and result.outcome in ("finished", "max_steps"):
            def run_all(variants: list[list[Intervention]], labels: list[str]) -> list[RunOutcome]:
                outcomes = []
                for i, ivs in enumerate([[]] + variants):
                    if i == 0 and budget == trace.steps and result.outcome in ("finished", "max_steps"):
                        # the observed run is the baseline: same copies, same seed, same steps
                        out = RunOutcome("finished", steps=trace.steps, loss=trace.curve(), wall_s=observe_s)
                    else:
                        out = _outcome(session, budget, ivs)
                    outcomes.append(out)
                    progress("verify_run_done", label=labels[i], outcome=out)
                return outcomes
            try:
                verify_s = test_suspicions(findings, run_all, budget, progress)
            except KeyboardInterrupt:
                notes.append("Ctrl-C stopped the confirmation runs: findings that needed one stay suspected.")
    findings = rank(findings)
    report = build_report(trace, findings, result, None, [])
    report.notes.extend(notes)
    report.probes = probes
    if observer.internal_errors:
        report.notes.append(f"torchdoctor's observation hit an internal error {observer.internal_errors} "
                            f"time(s) and recorded less than usual: {observer.internal_error}")
    report.wall_s = {"observe": round(observe_s, 3), "verify": round(verify_s, 3),
                     "total": round(time.monotonic() - t0, 3)}
    return report


def _outcome(session: _Session, steps: int, interventions: list[Intervention]) -> RunOutcome:
    t0 = time.monotonic()
    try:
        obs, result = session.run(steps, interventions)
    except Exception as e:                          # the change itself could not be applied
        return RunOutcome("error", error=_one_line(e), wall_s=time.monotonic() - t0)
    return RunOutcome(result.outcome, steps=obs.trace.steps, loss=obs.trace.curve(), error=result.error,
                      wall_s=time.monotonic() - t0)


def _add_lr_range(session: _Session, findings, notes: list[str], progress: Progress) -> dict[str, Any]:
    """Run the LR range test on a copy; its suggestion joins the lr finding's experiments.
    Returns {"lr_range": the sweep} for the report."""
    from .experiments.lr_range import lr_range_test
    progress("probe_start", probe="LR range test")
    try:
        sweep = lr_range_test(session.model, session.loss_fn, session.batches, session.optimizer,
                              batch_fn=session.batch_fn, batch_size=session.batches.batch_size,
                              scheduler=session.scheduler, seed=session.seed)
    except Exception as e:
        notes.append(f"The LR range test could not run: {_one_line(e)}")
        return {}
    progress("probe_done", probe="LR range test", result=sweep)
    attach_lr_range(findings, sweep)
    return {"lr_range": sweep.to_dict(group_lrs=False)}
