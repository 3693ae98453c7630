"""Render a Report as HTML: the fragment notebooks show (`Report._repr_html_`).

Every string from the user's run (module names, messages, errors) is escaped.
"""
from __future__ import annotations

from html import escape

from .model import Report
from .terminal import num

COLOR = {"error": "#b00020", "warning": "#9a6700", "info": "#666"}
STATUS_COLOR = {"healthy": "#1a7f37", "problems": "#b00020", "crashed": "#b00020", "no_training": "#9a6700"}


def fragment(report: Report) -> str:
    """A self-contained <div>: the verdict, then one row per finding, most important first."""
    e = lambda v: escape(str(v), quote=True)          # noqa: E731
    rows = []
    for f in report.findings:
        v = f.verified or {}
        if f.confidence == "confirmed" and v.get("method") == "counterfactual":
            how = f"confirmed: {e(v.get('change'))}: {e(num(v.get('before')))} &rarr; {e(num(v.get('after')))}"
        elif f.confidence == "confirmed":
            how = f"confirmed (analytic): {e(num(v.get('before')))} vs floor {e(num(v.get('after')))}"
        else:
            how = e(f.confidence)
        fix = e((f.fix or {}).get("summary", ""))
        rows.append(
            f"<tr><td style='color:{COLOR.get(f.severity, '#000')};font-weight:bold'>{e(f.severity)}</td>"
            f"<td><code>{e(f.code)}</code> <code>{e(f.category)}</code><br>{e(f.location or '')}</td>"
            f"<td><b>{e(f.title)}</b><br>{e(f.message)}<br><i>{fix}</i></td><td>{how}</td></tr>")
    table = ("<table><thead><tr><th>severity</th><th>check</th><th>finding</th><th>confirmation</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>") if rows else ""
    notes = "".join(f"<li>{e(n)}</li>" for n in report.notes)
    return (f"<div class='torchdoctor-report'><p><b style='color:{STATUS_COLOR.get(report.status, '#000')}'>"
            f"{e(report.status)}</b>: {e(report.summary)}</p>{table}"
            + (f"<ul>{notes}</ul>" if notes else "") + "</div>")
