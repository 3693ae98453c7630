"""The pipeline: observe -> suspect -> test -> report, for a training script.

This module only orchestrates; capture/ computes, checks/ judge, report/ renders.
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .capture import curves, distributed
from .capture.hooks import Observer
from .capture.script import ScriptResult, run_script
from .capture.trace import Trace
from .checks import CHECKS, BY_CODE, Context, Experiment
from .checks.base import RunOutcome
from .checks.optim._lr import attach_lr_range, wants_lr_range
from .experiments.interventions import Intervention
from .experiments.counterfactual import RunSpec, run_many
from .report.model import SEVERITIES, Finding, Report

# Default step budget of each confirmation run (--verify-steps). The seed's
# examples train 1000 steps; longer scripts are compared at this many steps.
VERIFY_STEPS = 1000
CONFIDENCE_ORDER = {"confirmed": 0, "suspected": 1, "refuted": 2}

Progress = Callable[..., None]


@dataclass
class Options:
    max_steps: int | None = None        # stop the observed script after this many optimizer steps
    timeout: float | None = None        # stop the observed script after this many seconds
    verify: bool = True                 # run the confirmation re-runs
    verify_steps: int = VERIFY_STEPS
    jobs: int | None = None             # parallel re-runs (default: one per core)
    quiet_script: bool = False          # hide the script's own output (demo)
    lr_range: bool = True               # an lr finding also gets the LR range test (one more re-run)


def _noop(event: str, **info: Any) -> None:
    pass


def judge(trace: Trace, notes: list[str] | None = None, *, owns_model: bool = False) -> list[Finding]:
    """Run every check over the trace, in registry order. A check that fails is
    skipped and named in `notes`: one broken check must not cost the diagnosis.
    `owns_model`: the experiments train copies of the model (diagnose()), so checks
    may plan changes no hook can make in a script (widening a layer)."""
    ctx = Context(trace, owns_model=owns_model)
    if trace.compiled and notes is not None:
        notes.append("Part of the model ran as torch.compile'd code, whose layers torchdoctor does not observe: "
                     "findings about them rest on the loss and the gradients only, and fixes that replace a "
                     "layer cannot be tested in a re-run. Remove torch.compile for a complete diagnosis.")
    if ctx.multi_objective and notes is not None:
        notes.append("Several optimizers each step on their own loss (an adversarial setup such as a GAN): "
                     "the checks that judge whether the loss goes down (learning rate, capacity, "
                     "misaligned data) were not applied.")
    for check in CHECKS:
        try:
            ctx.findings.extend(check.check(ctx))
        except Exception as e:
            if notes is not None:
                notes.append(f"check {check.CODE} ({check.CATEGORY}) failed and was skipped: "
                             f"{type(e).__name__}: {e}")
    return ctx.findings


def gain_order(f: Finding) -> int:
    """Orders of magnitude the confirming re-run gained (0 if none, or analytic): a fix
    that takes the loss 1000x lower explains more of the failure than one that takes it 10x."""
    v = f.verified
    if f.confidence != "confirmed" or not v or v.get("method") != "counterfactual":
        return 0
    before, after = v.get("before"), v.get("after")
    if not isinstance(after, (int, float)) or not isinstance(before, (int, float)) or after <= 0:
        return 6 if isinstance(after, (int, float)) else 0
    if not math.isfinite(before):
        return 6                               # from divergence/crash to a finite loss
    return max(0, int(math.log10(max(before / after, 1.0))))


def rank(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity; then confirmed before suspected; then, among
    confirmed ones, the fix that gained more orders of magnitude; then root causes
    (lower PRIORITY) before the symptoms they cause."""
    def key(f: Finding) -> tuple:
        check = BY_CODE.get(f.code)
        return (SEVERITIES.index(f.severity), CONFIDENCE_ORDER.get(f.confidence, 1), -gain_order(f),
                getattr(check, "PRIORITY", 100))
    return sorted(findings, key=key)


def plan_experiments(findings: list[Finding]) -> list[tuple[Finding, list[Experiment]]]:
    """The experiments that test each finding: its check's plan, plus any a probe added
    (plan_data["extra_experiments"], e.g. the LR range test's suggestion)."""
    planned: list[tuple[Finding, list[Experiment]]] = []
    for f in findings:
        check = BY_CODE.get(f.code)
        if check is not None and hasattr(check, "plan") and f.confidence != "refuted":
            exps = list(check.plan(f) or []) + list(f.plan_data.get("extra_experiments", []))
            if exps:
                planned.append((f, exps))
    return planned


Runner = Callable[[list[list[Intervention]], list[str]], list[RunOutcome]]


def test_suspicions(findings: list[Finding], run_all: Runner, budget: int,
                    progress: Progress = _noop) -> float:
    """Test every finding that has experiments with `run_all(variants, labels)`, which returns
    the baseline run (no change) first and then one run per variant, all of `budget` steps.
    Each check then judges its runs; returns the wall time spent."""
    planned = plan_experiments(findings)
    if not planned or budget <= 0:
        return 0.0
    unique: dict[str, Experiment] = {}
    for _, exps in planned:
        for e in exps:
            unique.setdefault(e.key, e)
    keys = list(unique)
    labels = ["baseline"] + [unique[k].label for k in keys]
    progress("verify_start", runs=labels, steps=budget)
    t0 = time.monotonic()
    outcomes = run_all([unique[k].interventions for k in keys], labels)
    baseline, by_key = outcomes[0], dict(zip(keys, outcomes[1:]))
    if baseline.outcome != "error" and baseline.steps < budget // 2:
        # the script did not train again the same way (it resumed from a checkpoint, or
        # stopped early): the re-runs cannot be compared with the observed run
        baseline.outcome, baseline.error = "error", (
            f"the baseline re-run trained only {baseline.steps} of {budget} steps "
            "(does the script resume from a checkpoint?)")
        baseline.loss = None
    for f, exps in planned:
        if baseline.outcome == "error":          # the re-run itself failed: nothing to compare
            f.tests = [{"change": "none (baseline re-run)", "outcome": baseline.outcome,
                        "error": baseline.error}]
            continue
        BY_CODE[f.code].conclude(f, baseline, [(e, by_key[e.key]) for e in exps])
    for f in findings:                       # a check may defer to causes confirmed by other re-runs
        check = BY_CODE.get(f.code)
        if check is not None and hasattr(check, "reconcile"):
            check.reconcile(f, findings)
    wall = time.monotonic() - t0
    progress("verify_done", wall_s=wall)
    return wall


def verify(findings: list[Finding], script: str, args: list[str], steps: int, observe_s: float,
           options: Options, progress: Progress = _noop) -> float:
    """Test every finding that has experiments by re-running the script in child processes."""
    budget = min(steps, options.verify_steps)
    # a re-run costs start-up plus at most the observed run's time; 3x leaves room for a busy machine
    base = RunSpec(script=os.path.abspath(script), args=list(args), cwd=os.getcwd(), steps=budget,
                   timeout=60 + 3 * observe_s)

    def run_all(variants: list[list[Intervention]], labels: list[str]) -> list[RunOutcome]:
        return run_many(base, variants, jobs=options.jobs,
                        on_done=lambda i, r: progress("verify_run_done", label=labels[i], outcome=r),
                        on_progress=lambda i, steps: progress("verify_run_step", label=labels[i],
                                                              step=steps, steps=budget))
    return test_suspicions(findings, run_all, budget, progress)


def lr_range_probe(findings: list[Finding], script: str, args: list[str], observe_s: float,
                   notes: list[str], progress: Progress = _noop) -> dict[str, Any]:
    """The LR range test as one re-run of the script; its suggestion joins the lr
    re-runs (attach_lr_range). Returns {"lr_range": the sweep} for the report."""
    from .experiments.lr_range import lr_range_script
    progress("probe_start", probe="LR range test")
    t0 = time.monotonic()
    try:
        sweep = lr_range_script(script, args, timeout=60 + 3 * observe_s)
    except Exception as e:                      # the sweep is extra evidence: the diagnosis goes on without it
        notes.append(f"The LR range test could not run: {type(e).__name__}: {str(e).strip()[:200]}")
        return {}
    progress("probe_done", probe="LR range test", result=sweep, wall_s=time.monotonic() - t0)
    attach_lr_range(findings, sweep)
    return {"lr_range": sweep.to_dict(group_lrs=False)}


def diagnose_script(script: str, args: list[str] | tuple[str, ...] = (), options: Options | None = None,
                    progress: Progress = _noop) -> tuple[Report, ScriptResult]:
    """Run the script under observation, judge it, test the suspicions, return the report."""
    options = options or Options()
    t0 = time.monotonic()
    progress("observe_start", script=script)
    deadline = None if options.timeout is None else t0 + options.timeout
    observer = Observer(max_steps=options.max_steps, deadline=deadline,
                        on_step=None if progress is _noop else
                        (lambda step, loss: progress("observe_step", step=step, loss=loss)))
    timeout = options.timeout
    stop = None
    if deadline is not None and distributed.world()[1] > 1:
        stop = distributed.StepStop(observer, deadline)
        if stop.usable:                 # ranks stop together; each rank's own clock only as a last resort
            observer.deadline, timeout = None, options.timeout + distributed.WAIT_S
    with observer, stop or contextlib.nullcontext():
        result = run_script(script, list(args), quiet=options.quiet_script, timeout=timeout)
    observer.finish(result.namespace)
    result.namespace = None
    # free the script's model, gradients and optimizer state before judging and re-running:
    # the observer's references, and the cycle through the script's globals (its functions'
    # __globals__), would keep them for the whole diagnosis
    observer.release()
    gc.collect()
    observe_s = time.monotonic() - t0
    # under torchrun: rank 0 gets every rank's statistics merged; the others send theirs
    trace, notes = distributed.combine(observer.trace, result)
    progress("observe_done", steps=trace.steps, outcome=result.outcome, wall_s=observe_s)

    findings = judge(trace, notes)
    verify_s, interrupted = 0.0, result.outcome == "interrupted"
    probes: dict[str, Any] = {}
    if options.verify and findings and not interrupted and distributed.world()[0] == 0:
        try:
            if options.lr_range and wants_lr_range(findings):
                probes.update(lr_range_probe(findings, script, list(args), observe_s, notes, progress))
            verify_s = verify(findings, script, list(args), trace.steps, observe_s, options, progress)
        except KeyboardInterrupt:
            interrupted = True
    findings = rank(findings)
    report = build_report(trace, findings, result, script, list(args))
    report.notes.extend(notes)
    report.probes = probes
    report.interrupted = interrupted
    if interrupted and result.outcome != "interrupted":
        report.notes.append("Ctrl-C stopped the confirmation runs: findings that needed one stay suspected.")
    if observer.internal_errors:
        report.notes.append(f"torchdoctor's observation hit an internal error {observer.internal_errors} "
                            f"time(s) and recorded less than usual: {observer.internal_error}")
    report.wall_s = {"observe": round(observe_s, 3), "verify": round(verify_s, 3),
                     "total": round(time.monotonic() - t0, 3)}
    return report, result


def build_report(trace: Trace, findings: list[Finding], result: ScriptResult, script: str | None,
                 args: list[str]) -> Report:
    series = trace.curve()
    report = Report(status="healthy", findings=findings, steps_observed=trace.steps or trace.manual_updates,
                    script=script,
                    args=args, outcome=result.outcome, exit_code=result.exit_code, error=result.error,
                    torch_version=torch.__version__,
                    loss_curve=[[s, v] for s, v in series.history],
                    grad_norms={name: [[k, v] for k, v in pts.points]
                                for name, pts in trace.layer_grad_norms.items() if not name.isdigit()},
                    created=datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    if series.count:
        report.loss_start, report.loss_end = curves.head(series), curves.tail(series)
    worst = report.worst()
    if result.outcome in ("crashed", "exit"):
        report.status = "crashed"
    elif trace.steps == 0 and trace.manual_updates == 0:
        report.status = "no_training"
    elif worst in ("error", "warning"):
        report.status = "problems"
    report.summary = summarize(report, trace)
    return report


def summarize(report: Report, trace: Trace) -> str:
    ranked = [f for f in report.findings if f.severity in ("error", "warning")]
    if report.status == "no_training":
        if trace.backward_calls == 0:
            return ("No training happened: the script never called backward() and no optimizer "
                    "stepped, so there is nothing to diagnose.")
        return (f"No training happened: backward() ran {trace.backward_calls} times but no optimizer "
                "ever called step(), so the weights never changed.")
    lead = ""
    if report.status == "crashed":
        what = report.error or f"exit code {report.exit_code}"
        if not trace.steps and not trace.manual_updates:
            return f"The script failed before its first training step ({what}): nothing to diagnose."
        lead = f"The script failed after {trace.steps} steps ({what}). "
    if ranked:
        top = ranked[0]
        more = f" (+{len(ranked) - 1} more)" if len(ranked) > 1 else ""
        state = "confirmed" if top.confidence == "confirmed" else "suspected"
        return f"{lead}{top.title} [{top.category}, {state}]{more}."
    if report.status == "crashed":
        return f"{lead}No problem found in the steps before it."
    if report.loss_start is not None and report.loss_end is not None and math.isfinite(report.loss_end):
        return (f"Healthy: the loss went from {report.loss_start:.3g} to {report.loss_end:.3g} over "
                f"{trace.steps} steps; no problem found.")
    return f"Healthy: {trace.steps} steps observed; no problem found."
