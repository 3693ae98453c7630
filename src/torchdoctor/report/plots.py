"""The report's plots, drawn from a Report's data alone (matplotlib, object API).

Each function draws on the `ax` it is given, or on a new Figure, and returns the
Figure; nothing calls `pyplot.show()` and no global pyplot state is touched, so
they are safe in notebooks, scripts and threads. `available(report)` says which
plots a report has data for; html.py renders them to inline SVG.

Why matplotlib: the most widely kept Python plotting library, vector output (SVG)
that stays sharp when printed and needs no JavaScript, CDN or font download in
the HTML file; an interactive library would have to bundle ~3 MB of script inline.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .model import Finding, Report

# One colour per role, the same in every plot (matplotlib's tab10, colour-blind friendly pair).
OBSERVED, BASELINE, CHANGED, FLOOR, MARK = "#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#ff7f0e"
SIZE = (6.4, 3.2)          # inches: two plots fit one printed A4 page width-wise at 100%


def _figure(ax):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure
    fig = Figure(figsize=SIZE, layout="constrained")
    return fig, fig.add_subplot()


def _finite(points: list[list[float]]) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for p in points or []:
        if len(p) == 2 and isinstance(p[1], (int, float)) and math.isfinite(p[1]):
            xs.append(p[0])
            ys.append(p[1])
    return xs, ys


def _log_if_positive(ax, *ys: list[float]) -> None:
    values = [v for y in ys for v in y]
    if values and min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")


def _top_confirmed(report: Report) -> Finding | None:
    """The first finding confirmed by a re-run whose tests carry curves."""
    for f in report.findings:
        if f.confidence == "confirmed" and any(t.get("curve") for t in f.tests):
            return f
    return None


def _floor(report: Report, finding: Finding | None = None) -> tuple[float, str] | None:
    """The loss floor `finding` proved, else the lowest any finding proved, with its code."""
    floors = [(f.evidence["loss_floor"], f.code) for f in ([finding] if finding else report.findings)
              if isinstance(f.evidence.get("loss_floor"), (int, float)) and f.severity != "info"
              and math.isfinite(f.evidence["loss_floor"])]
    return min(floors) if floors else None


def plot_loss(report: Report, ax=None, finding: Finding | None = None, reruns: bool = True):
    """The observed loss curve (log scale when it spans a decade), the floor a finding
    proved, and (with `reruns`) the re-runs of `finding` (default: the top confirmed
    one): the unchanged baseline and the change that confirmed it."""
    fig, ax = _figure(ax)
    xs, ys = _finite(report.loss_curve)
    ax.plot(xs, ys, color=OBSERVED, lw=1.2, label="observed run")
    shown = [ys]
    f = (finding or _top_confirmed(report)) if reruns else None
    if f is not None:
        changed = (f.verified or {}).get("change")
        for t in f.tests:
            tx, ty = _finite(t.get("curve"))
            if not tx:
                continue
            base = t["change"].startswith("none")
            if not base and t["change"] != changed:
                continue
            ax.plot(tx, ty, color=BASELINE if base else CHANGED, lw=1.0, ls="--" if base else "-",
                    label="re-run, unchanged" if base else f"re-run: {t['change']}")
            shown.append(ty)
    floor = _floor(report, finding)
    if floor is not None:
        ax.axhline(floor[0], color=FLOOR, lw=1.0, ls=":", label=f"floor {floor[0]:.3g} ({floor[1]})")
        shown.append([floor[0]])
    _log_if_positive(ax, *shown)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    if xs or len(shown) > 1:
        ax.legend(fontsize=8, loc="best")
    return fig


def plot_lr_range(report: Report, ax=None):
    """The LR range test: raw and smoothed loss against the lr (log), the suggestion
    and the descending range marked."""
    fig, ax = _figure(ax)
    sweep = report.probes.get("lr_range") or {}
    lrs, losses, smooth = sweep.get("lrs", []), sweep.get("losses", []), sweep.get("smoothed", [])
    pts = [(a, b) for a, b in zip(lrs, losses) if isinstance(b, (int, float)) and math.isfinite(b)]
    ax.plot([a for a, _ in pts], [b for _, b in pts], color=BASELINE, lw=0.8, alpha=0.6, label="loss")
    sm = [(a, b) for a, b in zip(lrs, smooth) if isinstance(b, (int, float)) and math.isfinite(b)]
    ax.plot([a for a, _ in sm], [b for _, b in sm], color=OBSERVED, lw=1.4, label="smoothed")
    lo, hi = (sweep.get("range") or [None, None])[:2]
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and math.isfinite(lo) and math.isfinite(hi):
        ax.axvspan(lo, hi, color=CHANGED, alpha=0.12, label="descending range")
    s = sweep.get("suggestion")
    if isinstance(s, (int, float)) and math.isfinite(s):
        ax.axvline(s, color=MARK, lw=1.2, label=f"suggestion {s:.3g} ({sweep.get('confidence')})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("LR range test")
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_grad_flow(report: Report, ax=None):
    """Each layer's gradient norm over the sampled steps (log scale), input side first."""
    fig, ax = _figure(ax)
    layers = list(report.grad_norms.items())
    try:
        from matplotlib import colormaps
        cmap = colormaps["viridis"]
    except ImportError:                                   # matplotlib < 3.5
        from matplotlib import cm
        cmap = cm.get_cmap("viridis")
    for i, (name, points) in enumerate(layers):
        xs, ys = _finite(points)
        ys = [max(y, 1e-30) for y in ys]                  # a zero gradient still shows, at the bottom
        ax.plot(xs, ys, lw=1.0, color=cmap(i / max(1, len(layers) - 1)), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("gradient norm ‖g‖")
    ax.set_title("Gradient flow per layer")
    if layers:
        ax.legend(fontsize=7, loc="best", ncol=2 if len(layers) > 6 else 1)
    return fig


def plot_output_range(report: Report, finding: Finding | None = None, ax=None):
    """The targets' distribution against the range the final activation can produce."""
    fig, ax = _figure(ax)
    f = finding or next((f for f in report.findings if f.evidence.get("target_histogram")), None)
    if f is not None:
        hist = f.evidence["target_histogram"]
        edges, counts = hist["edges"], hist["counts"]
        ax.stairs(counts, edges, fill=True, color=OBSERVED, alpha=0.5, label="targets (sampled)")
        lo, hi = f.evidence.get("range", [None, None])
        lo = edges[0] if not isinstance(lo, (int, float)) or not math.isfinite(lo) else lo
        hi = edges[-1] if not isinstance(hi, (int, float)) or not math.isfinite(hi) else hi
        ax.axvspan(max(lo, edges[0]), min(hi, edges[-1]), color=CHANGED, alpha=0.15,
                   label=f"{f.evidence.get('activation', 'output')} range")
        share = f.evidence.get("targets_outside_range")
        if isinstance(share, (int, float)):
            ax.set_title(f"Targets vs output range: {share:.0%} outside")
    ax.set_xlabel("target value")
    ax.set_ylabel("count")
    if f is not None:
        ax.legend(fontsize=8, loc="best")
    return fig


PLOTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "loss": ("Loss", plot_loss),
    "lr_range": ("LR range test", plot_lr_range),
    "grad_flow": ("Gradient flow", plot_grad_flow),
    "output_range": ("Output range", plot_output_range),
}


def available(report: Report) -> list[str]:
    """The plots this report has data for, in the order the HTML shows them."""
    out = []
    if report.loss_curve:
        out.append("loss")
    if (report.probes.get("lr_range") or {}).get("lrs"):
        out.append("lr_range")
    if report.grad_norms:
        out.append("grad_flow")
    if any(f.evidence.get("target_histogram") for f in report.findings):
        out.append("output_range")
    return out


def to_svg(fig) -> str:
    """The figure as an inline <svg> element (text kept as text: small, searchable, printable)."""
    import io
    import matplotlib
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]                   # drop the XML prolog and DOCTYPE
