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


@dataclass
class Context:
    trace: Trace
    findings: list[Finding] = field(default_factory=list)   # found by the checks that ran before

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


def record_tests(finding: Finding, baseline: RunOutcome,
                 results: list[tuple[Experiment, RunOutcome]]) -> None:
    finding.tests = [{"change": "none (baseline re-run)", "outcome": baseline.outcome,
                      "steps": baseline.steps, "loss_end": baseline.end}]
    finding.tests += [{"change": e.label, "outcome": r.outcome, "steps": r.steps,
                       "loss_end": r.end, "error": r.error} for e, r in results]


def improvement(before: float, after: float) -> float:
    """How many times lower `after` is than `before` (inf if before is inf and after finite)."""
    if not math.isfinite(after) or after < 0:
        return 0.0
    if not math.isfinite(before):
        return math.inf
    return before / after if after > 0 else math.inf


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
