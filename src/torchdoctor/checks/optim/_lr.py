"""What the two learning-rate checks share: reading the lr and judging the lr re-runs."""
from __future__ import annotations

import math

from ...capture import curves
from ...capture.trace import Trace
from ...report.model import Finding
from ..base import CONFIRM_FACTOR, Experiment, RunOutcome, fmt, improvement, record_tests


def first_lr(trace: Trace) -> float:
    """The primary optimizer's first-group learning rate at the first step."""
    return trace.lr.head[0] if trace.lr.count else float(trace.optimizers[0].groups[0].get("lr", math.nan))


def tail_update_ratio(trace: Trace) -> float:
    """Median ‖Δw‖/‖w‖ of the weight matrices over the last sampled steps."""
    s = trace.update_ratio
    return curves.median(s.tail_values()[-curves.tail_window(s.count):])


def progress_share(ctx, c) -> float | None:
    """The share of the starting loss still left at the end, measured above the loss no
    model can remove (soft targets' entropy); None when a floor proven by an earlier
    finding explains the level (no learning rate can halve it) or nothing is left."""
    from .. import fits
    from ..base import CONFIRM_FACTOR
    floor = ctx.floor()
    if floor is not None and c.end < floor * CONFIRM_FACTOR:
        return None
    loss = ctx.trace.loss_info
    targets = loss.targets.sample() if loss is not None and loss.targets is not None else None
    irreducible = fits.irreducible_loss(loss.kind, targets) if targets is not None else 0.0
    if not c.start > irreducible:
        return None
    return (c.end - irreducible) / (c.start - irreducible)


def conclude(finding: Finding, baseline: RunOutcome, results: list[tuple[Experiment, RunOutcome]],
             *, verb: str, error_gain: float) -> None:
    """Confirm with the best lr re-run (a gain >= CONFIRM_FACTOR) or mark the suspicion refuted."""
    record_tests(finding, baseline, results)
    ok = [(e, r) for e, r in results if r.ok and math.isfinite(r.end)]
    lr, symptom = finding.plan_data["lr"], finding.plan_data["symptom"]
    before = baseline.end
    if not ok:
        if results and all(r.ok for _, r in results):    # every re-run went non-finite too
            finding.confidence, finding.severity = "refuted", "info"
            finding.message = (f"Not confirmed: {symptom[0].lower()}{symptom[1:]} with lr={lr:g}, but the "
                               "loss goes non-finite with every learning rate tried, so the cause lies elsewhere.")
        return
    # the lowest loss; within 10% of it, the larger learning rate (it trains faster)
    best_end = min(r.end for _, r in ok)
    exp, run = max(((e, r) for e, r in ok if r.end <= best_end * 1.1 + 1e-12),
                   key=lambda er: er[0].interventions[0].factor)
    new_lr = lr * exp.interventions[0].factor
    gain = improvement(before, run.end)
    if gain >= CONFIRM_FACTOR:
        finding.confidence = "confirmed"
        finding.severity = "error" if gain >= error_gain else "warning"
        finding.message = (f"{symptom} with lr={lr:g}. With lr={new_lr:g} the same training reaches "
                           f"{fmt(run.end)} instead of {fmt(before)} after {run.steps} steps.")
        finding.verified = {"method": "counterfactual", "metric": f"loss after {run.steps} steps",
                            "before": before, "after": run.end, "change": f"lr {lr:g} -> {new_lr:g}"}
        finding.evidence["suggested_lr"] = new_lr
        finding.fix = {"summary": f"{verb} the learning rate to {new_lr:g}.",
                       "code": f"lr={new_lr:g}  # was {lr:g}"}
    else:
        finding.confidence = "refuted"
        finding.severity = "info"
        finding.message = (f"Not confirmed: {symptom[0].lower()}{symptom[1:]} with lr={lr:g}, but lr={new_lr:g} "
                           f"does no better ({fmt(run.end)} vs {fmt(before)} after {run.steps} steps).")


def one_direction(finding: Finding, findings: list[Finding]) -> None:
    """Never report the learning rate as both too high and too low: when both re-runs
    helped (a stalled run tests both), the smaller gain steps back."""
    other = "optim.lr_too_low" if finding.category == "optim.lr_too_high" else "optim.lr_too_high"
    rival = next((f for f in findings if f.category == other and f.confidence == "confirmed"), None)
    if finding.confidence != "confirmed" or rival is None:
        return
    gain = lambda f: improvement(f.verified["before"], f.verified["after"])   # noqa: E731
    if gain(finding) < gain(rival) or (gain(finding) == gain(rival) and finding.category == "optim.lr_too_low"):
        finding.confidence, finding.severity = "refuted", "info"
        finding.message = f"The other direction helped more ({rival.verified['change']}). " + finding.message


# The lr checks whose finding the LR range test's suggestion is tested for.
LR_CATEGORIES = ("optim.lr_too_high", "optim.lr_too_low")
# A suggestion within this factor of an lr the check re-runs anyway (x0.1, x0.01…)
# gets no re-run of its own: the re-runs step by decades, and a third of one says
# nothing new while costing a whole re-run.
NEAR_PLANNED = 3.0


def wants_lr_range(findings: list[Finding]) -> bool:
    return any(f.category in LR_CATEGORIES for f in findings)


def attach_lr_range(findings: list[Finding], sweep) -> None:
    """Record an LR range test (experiments/lr_range.LRRange) on the lr findings, and
    plan its suggestion as one more lr re-run when it points the way the finding says:
    the re-runs then judge it side by side with the x0.1 / x10 ones."""
    from ...experiments.interventions import ScaleLR
    from ..registry import BY_CODE
    for f in findings:
        if f.category not in LR_CATEGORIES:
            continue
        f.evidence["lr_range_suggestion"] = sweep.suggestion
        f.evidence["lr_range"] = list(sweep.range)
        f.evidence["lr_range_confidence"] = sweep.confidence
        lr = f.plan_data.get("lr")
        if not (math.isfinite(sweep.suggestion) and lr and lr > 0):
            continue
        factor = float(f"{sweep.suggestion / lr:.3g}")
        planned = getattr(BY_CODE.get(f.code), "FACTORS", ())
        if any(max(factor / x, x / factor) < NEAR_PLANNED for x in planned):
            continue
        if (f.category == "optim.lr_too_high") == (factor < 1):      # the direction the finding says
            f.plan_data.setdefault("extra_experiments", []).append(Experiment([ScaleLR(factor)]))
