"""The report: plain data that round-trips through JSON (the contract in DESIGN.md).

Reporters (terminal.py, json.py) only render a Report; nothing here prints.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    code: str                       # registry code, e.g. "C001"
    category: str                   # a category of TAXONOMY.md
    severity: str                   # error | warning | info
    title: str
    message: str
    location: str | None = None     # "model.0 (Linear)"
    evidence: dict[str, Any] = field(default_factory=dict)   # measured numbers, named with their units
    fix: dict[str, str] = field(default_factory=dict)        # {"summary": …, "code": …}
    verified: dict[str, Any] | None = None   # {"metric", "before", "after", "change"} when confirmed
    confidence: str = "suspected"   # confirmed | suspected | refuted
    tests: list[dict[str, Any]] = field(default_factory=list)   # every counterfactual run tried, with its result
    # what a check needs to plan its experiments (module addresses…); not part of the report
    plan_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def rank_key(self) -> tuple:
        return (SEVERITIES.index(self.severity), self.confidence != "confirmed")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("plan_data")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "plan_data"}
        return cls(**known)


@dataclass
class Report:
    status: str                     # healthy | problems | crashed | no_training
    findings: list[Finding] = field(default_factory=list)   # most important first
    steps_observed: int = 0
    script: str | None = None
    args: list[str] = field(default_factory=list)
    outcome: str = "finished"       # how the observed run ended: finished | max_steps | timeout | crashed | exit | interrupted
    exit_code: int = 0              # the script's own exit code
    error: str | None = None        # the script's error, one line
    summary: str = ""               # one-line verdict
    loss_start: float | None = None
    loss_end: float | None = None
    loss_curve: list[list[float]] = field(default_factory=list)   # [[step, loss], …] decimated
    wall_s: dict[str, float] = field(default_factory=dict)        # {"observe": …, "verify": …, "total": …}
    notes: list[str] = field(default_factory=list)                # limits of this diagnosis, said plainly
    interrupted: bool = False       # Ctrl-C during the observed run or the confirmation runs
    grad_norms: dict[str, list[list[float]]] = field(default_factory=dict)   # layer -> [[step, ‖g‖], …] sampled
    probes: dict[str, Any] = field(default_factory=dict)   # {"lr_range": LRRange.to_dict()} when a probe ran
    created: str = ""               # when the diagnosis ran (ISO 8601, local time with offset)
    torch_version: str = ""
    tool: dict[str, str] = field(default_factory=lambda: {"name": "torchdoctor", "version": _version()})

    def worst(self) -> str | None:
        """The highest severity among the findings."""
        for s in SEVERITIES:
            if any(f.severity == s for f in self.findings):
                return s
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = [f.to_dict() for f in self.findings]
        return {"tool": d.pop("tool"), "status": d.pop("status"),
                "steps_observed": d.pop("steps_observed"), "findings": d.pop("findings"), **d}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(_clean(self.to_dict()), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["findings"] = [Finding.from_dict(f) for f in d.get("findings", [])]
        return cls(**known)

    @classmethod
    def from_json(cls, text: str) -> "Report":
        return cls.from_dict(json.loads(text))

    def __str__(self) -> str:
        from .terminal import render_text
        return render_text(self)

    def _repr_html_(self) -> str:
        """What a notebook shows for a Report."""
        from .html import fragment
        return fragment(self)

    def to_html(self) -> str:
        """One self-contained HTML page: verdict, findings with evidence, fix and plots,
        run details. No script, no network: opens in any browser, prints."""
        from .html import document
        return document(self)

    # ---- plots (matplotlib Figures; nothing is shown) --------------------------------
    def plot_loss(self, ax=None):
        """Loss curve, proven floor, and the top confirmed finding's re-runs."""
        from .plots import plot_loss
        return plot_loss(self, ax=ax)

    def plot_lr_range(self, ax=None):
        """The LR range test's curve with its suggestion (when the test ran)."""
        from .plots import plot_lr_range
        return plot_lr_range(self, ax=ax)

    def plot_grad_flow(self, ax=None):
        """Per-layer gradient norms over the sampled steps."""
        from .plots import plot_grad_flow
        return plot_grad_flow(self, ax=ax)

    def plot_output_range(self, ax=None):
        """The targets' distribution against the final activation's range."""
        from .plots import plot_output_range
        return plot_output_range(self, ax=ax)


def _clean(v: Any) -> Any:
    """Strict JSON: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "tolist"):
        return _clean(v.tolist())
    return str(v)


def _version() -> str:
    from .. import __version__
    return __version__
