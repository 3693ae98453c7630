"""Render a Report for the terminal with rich: verdict, then findings, most important first."""
from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from .model import Finding, Report

STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
STATUS_STYLE = {"healthy": "bold green", "problems": "bold red", "crashed": "bold red",
                "no_training": "bold yellow"}


def num(v: Any) -> str:
    """A measured value as printed: 3 significant digits, shares as percentages."""
    if isinstance(v, bool) or v is None:
        return str(v).lower() if isinstance(v, bool) else "-"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(num(x) for x in v) + "]"
    return str(v)


def _evidence(f: Finding) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim")
    t.add_column()
    for k, v in f.evidence.items():
        if v is None or isinstance(v, dict):      # dicts are data for the plots (a histogram)
            continue
        shown = f"{v:.0%}" if isinstance(v, float) and ("share" in k or "outside" in k or "falling" in k) \
            and math.isfinite(v) else num(v)
        t.add_row(k.replace("_", " "), shown)
    return t


def _verification(f: Finding) -> Text:
    v = f.verified
    if f.confidence == "confirmed" and v:
        if v.get("method") == "analytic":
            return Text.assemble(("confirmed ", "bold green"),
                                 f"(analytic): {v['metric']}: {num(v['before'])} vs {num(v['after'])}")
        return Text.assemble(("confirmed ", "bold green"),
                             f"by re-running with {v['change']}: {v['metric']} "
                             f"{num(v['before'])} -> {num(v['after'])}")
    if f.confidence == "refuted":
        return Text("not confirmed: the re-run with the fix did no better", style="dim")
    failed = [t for t in f.tests if t.get("error")]
    if failed:
        return Text(f"suspected: the confirmation re-run failed ({failed[0]['error']})", style="yellow")
    return Text("suspected: not confirmed", style="yellow")


def finding_panel(i: int, f: Finding) -> Panel:
    head = Text.assemble((f"{i}. ", "bold"), (f.severity.upper(), STYLE[f.severity]), "  ",
                         (f.category, "bold"), (f" [{f.code}]", "dim"))
    parts: list[Any] = [Text(f.title, style="bold")]
    if f.location:
        parts.append(Text.assemble(("at ", "dim"), f.location))
    parts.append(Text(f.message))
    if f.evidence:
        parts.append(_evidence(f))
    parts.append(_verification(f))
    if f.fix:
        parts.append(Text.assemble(("fix: ", "bold"), f.fix.get("summary", "")))
        if f.fix.get("code"):
            parts.append(Syntax(f.fix["code"], "python", theme="ansi_dark", background_color="default",
                                word_wrap=True))
    return Panel(Group(*parts), title=head, title_align="left",
                 border_style=STYLE[f.severity] if f.severity != "info" else "dim")


def render(report: Report, console: Console) -> None:
    status = Text.assemble(("torchdoctor: ", "bold"), (report.status, STATUS_STYLE.get(report.status, "")),
                           " - ", report.summary)
    console.print()
    console.print(status, soft_wrap=True)
    main = [f for f in report.findings if f.severity != "info"]
    for i, f in enumerate(main, 1):
        console.print(finding_panel(i, f))
    ruled_out = [f for f in report.findings if f.severity == "info"]
    if ruled_out:
        console.print(Text("Checked and ruled out:", style="dim"))
        for f in ruled_out:
            console.print(Text(f"  - {f.category}: {f.message}", style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="yellow"), soft_wrap=True)
    if report.wall_s:
        w = report.wall_s
        console.print(Text(f"{report.steps_observed} steps observed in {w.get('observe', 0):.1f} s; "
                           f"confirmation runs {w.get('verify', 0):.1f} s; total {w.get('total', 0):.1f} s",
                           style="dim"))


def render_text(report: Report) -> str:
    """The same report as plain text (for str(report), logs and tests)."""
    buf = io.StringIO()
    render(report, Console(file=buf, width=100, color_system=None, force_terminal=False))
    return buf.getvalue()
