"""What every check shares: its context, its experiments, and how a result is judged.

A check is a module with
    CODE, CATEGORY, TITLE      its registry entry (codes are never reused)
    PRIORITY                   lower = closer to a root cause, ranked first among equals
    check(ctx) -> list[Finding]             suspect, from the trace alone
    plan(finding) -> list[Experiment]       optional: the counterfactual runs that test it
    conclude(finding, baseline, results)    optional: judge those runs, update the finding
and a docstring with the sections What it detects / Why training fails / Fix / Evidence.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..capture import curves
from ..capture.trace import Series, Trace
from ..experiments.interventions import Intervention
from ..report.model import Finding

# A change "fixes" a run when the loss at the end falls to half or less at equal
# steps. Seed-size runs re-run under the same seed repeat their tail median to
# within a few percent, so a halving is far outside re-run noise.
CONFIRM_FACTOR = 2.0


# multi_objective: a second optimizer stepping on at least half the primary's steps, and
# 1.5 backward calls per step (one per loss: 2 for a GAN; a shared loss with two
# optimizers, e.g. backbone and head, has 1).
MULTI_STEP_SHARE, MULTI_BACKWARDS = 0.5, 1.5


@dataclass
class Context:
    trace: Trace
    findings: list[Finding] = field(default_factory=list)   # found by the checks that ran before
    owns_model: bool = False     # experiments train copies of the model objects (diagnose()), not a script

    @property
    def multi_objective(self) -> bool:
        """Several optimizers each step on their own loss every step (a GAN's generator and
        discriminator): at least two step on half of the primary's steps or more, with at least
        1.5 backward calls per step. Their summed loss is not meant to go down, so the checks
        that judge the loss's progress (learning rate, near-constant loss) do not apply."""
        t = self.trace
        busy = [o for o in t.optimizers if o.steps >= MULTI_STEP_SHARE * max(t.steps, 1)]
        return len(busy) >= 2 and t.backward_calls >= MULTI_BACKWARDS * max(t.steps, 1)

    def floor(self) -> float | None:
        """The highest loss floor an earlier finding proved (no change of lr can beat it)."""
        floors = [f.evidence.get("loss_floor") for f in self.findings]
        floors = [x for x in floors if isinstance(x, (int, float)) and math.isfinite(x)]
        return max(floors) if floors else None


@dataclass
class Experiment:
    interventions: list[Intervention]

    @property
    def key(self) -> str:
        return repr(sorted(repr(i.to_dict()) for i in self.interventions))

    @property
    def label(self) -> str:
        return ", ".join(i.label for i in self.interventions)


@dataclass
class RunOutcome:
    """What a re-run of the training reported."""
    outcome: str                 # finished | max_steps | timeout | crashed | exit | error
    steps: int = 0
    loss: Series | None = None
    error: str | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.loss is not None and self.loss.count > 0 and self.outcome != "error"

    @property
    def end(self) -> float:
        """Tail median of the loss (inf for a run that went non-finite at the end)."""
        return curves.tail(self.loss) if self.ok else math.nan


def make_finding(check_name: str, *, severity: str, message: str, **kw: Any) -> Finding:
    """A finding of the check whose module is named `check_name` (pass `__name__`)."""
    check = sys.modules[check_name]
    return Finding(code=check.CODE, category=check.CATEGORY, title=check.TITLE,
                   severity=severity, message=message, **kw)


# Points of each re-run's loss curve kept in the report (for its plot): 200 points
# draw a curve as smooth as a 6-inch plot can show, at ~4 kB of JSON per re-run.
CURVE_POINTS = 200


def curve_points(run: RunOutcome, n: int = CURVE_POINTS) -> list[list[float]]:
    """[[step, loss], …] of a re-run, decimated uniformly to at most n points."""
    if not run.ok:
        return []
    hist = run.loss.history
    stride = max(1, math.ceil(len(hist) / n))
    return [[int(k), float(v)] for k, v in hist[::stride]]


def record_tests(finding: Finding, baseline: RunOutcome,
                 results: list[tuple[Experiment, RunOutcome]]) -> None:
    finding.tests = [{"change": "none (baseline re-run)", "outcome": baseline.outcome,
                      "steps": baseline.steps, "loss_end": baseline.end, "curve": curve_points(baseline)}]
    finding.tests += [{"change": e.label, "outcome": r.outcome, "steps": r.steps,
                       "loss_end": r.end, "error": r.error, "curve": curve_points(r)} for e, r in results]


def improvement(before: float, after: float) -> float:
    """How many times lower `after` is than `before` (inf if before is inf/NaN, i.e. the
    baseline diverged or crashed before any loss, and after is finite)."""
    if not math.isfinite(after) or after < 0:
        return 0.0
    if not math.isfinite(before):
        return math.inf
    return before / after if after > 0 else math.inf


def confirm_by_rerun(finding: Finding, baseline: RunOutcome, results: list[tuple[Experiment, RunOutcome]],
                     *, floor: float | None = None, refute: bool = True) -> bool:
    """The common judgement: the changed re-run ends at least CONFIRM_FACTOR lower than
    the baseline re-run (or below a floor the original can never beat). Marks the
    finding confirmed, or refuted (severity info) when `refute` and it did no better."""
    record_tests(finding, baseline, results)
    exp, run = min(results, key=lambda er: er[1].end if er[1].ok and math.isfinite(er[1].end) else math.inf)
    before, after = baseline.end, run.end
    if run.ok and math.isfinite(after) and (improvement(before, after) >= CONFIRM_FACTOR
                                            or (floor is not None and after < floor)):
        finding.confidence = "confirmed"
        finding.verified = {"method": "counterfactual", "metric": f"loss after {run.steps} steps",
                            "before": before, "after": after, "change": exp.label}
        return True
    if refute and run.ok and baseline.ok:
        finding.confidence, finding.severity = "refuted", "info"
        finding.message = f"Not confirmed ({exp.label}: {fmt(after)} vs {fmt(before)}). " + finding.message
    return False


def model_name(trace: Trace) -> str:
    m = trace.model
    return m.var if m is not None else "model"


def module_where(trace: Trace, name: str, type_: str) -> str:
    """How the report names a module: "model.3 (Sigmoid)"."""
    return f"{model_name(trace)}.{name} ({type_})" if name else f"{model_name(trace)} ({type_})"


def fmt(x: float) -> str:
    """A loss value for a message: 3 significant digits."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def times(ratio: float) -> str:
    """A ratio for a message: "1570x", "3.2x"."""
    if not math.isfinite(ratio):
        return "infinitely"
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def sections(check: ModuleType) -> dict[str, str]:
    """The docstring's fixed sections, by name."""
    names = ("What it detects", "Why training fails", "Fix", "Evidence")
    out, current = {}, None
    for line in (check.__doc__ or "").splitlines():
        head = line.strip().rstrip(":")
        if head in names and line.strip().endswith(":"):
            current = head
            out[current] = []
        elif current is not None:
            out[current].append(line.strip())
    return {k: " ".join(x for x in v if x).strip() for k, v in out.items()}
