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


# ---- the whole page (--html, Report.to_html) ---------------------------------------
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
h3{font-size:1.05rem;margin:.2rem 0}
.verdict{padding:.8rem 1rem;border-radius:6px;border-left:6px solid;background:#f6f8fa}
.finding{border:1px solid #d0d7de;border-left:6px solid;border-radius:6px;padding:.6rem 1rem;margin:1rem 0;
  break-inside:avoid}
.meta{color:#57606a;font-size:.9rem}
table{border-collapse:collapse;margin:.4rem 0;font-size:.9rem}
td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5rem;overflow-x:auto;font-size:.85rem;
  white-space:pre-wrap}
.add{color:#116329;background:#dafbe1;display:block}.del{color:#82071e;background:#ffebe9;display:block}
.ctx{display:block}
.plot{margin:.6rem 0}.plot svg{width:100%;height:auto;max-width:46rem}
@media print{body{margin:0;max-width:none;font-size:11pt}.finding,.plot{break-inside:avoid}
  a{color:inherit}}
"""
SEVERITY_COLOR = {**COLOR, "info": "#8c959f"}


def _value(v) -> str:
    """An evidence value as short text."""
    if isinstance(v, float):
        return num(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_value(x) for x in v[:12])
        return f"[{inner}{', …' if len(v) > 12 else ''}]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in list(v.items())[:8]) + "}"
    return str(v)


def _diff(finding) -> str:
    """The fix as a diff: the check's documented pattern (EXAMPLE -> FIXED), then the
    change this finding proposes for the user's code."""
    import difflib
    from ..checks.registry import BY_CODE
    e = lambda v: escape(str(v), quote=True)          # noqa: E731
    parts = []
    check = BY_CODE.get(finding.code)
    example, fixed = getattr(check, "EXAMPLE", ""), getattr(check, "FIXED", "")
    if example and fixed:
        lines = []
        for line in list(difflib.unified_diff(example.splitlines(), fixed.splitlines(), n=1000, lineterm=""))[3:]:
            cls = {"-": "del", "+": "add"}.get(line[:1], "ctx")      # the first 3: ---, +++, @@ headers
            lines.append(f"<span class='{cls}'>{e(line[:1] + ' ' + line[1:])}</span>")
        parts.append("<div class='meta'>the pattern</div><pre>" + "".join(lines) + "</pre>")
    code = (finding.fix or {}).get("code")
    if code:
        body = "".join(f"<span class='add'>+ {e(l)}</span>" for l in code.splitlines())
        parts.append("<div class='meta'>for your code</div><pre>" + body + "</pre>")
    return "".join(parts)


def _plot(name: str, fig, title: str) -> str:
    from .plots import to_svg
    svg = to_svg(fig)
    return f"<figure class='plot' data-plot='{escape(name)}'>{svg}<figcaption class='meta'>{escape(title)}</figcaption></figure>"


def _finding_plots(report: Report, f) -> list[str]:
    from .plots import plot_grad_flow, plot_loss, plot_lr_range, plot_output_range
    out = []
    if f.confidence == "confirmed" and any(t.get("curve") for t in f.tests):
        out.append(_plot("loss", plot_loss(report, finding=f), "loss: the observed run and the re-runs"))
    elif isinstance(f.evidence.get("loss_floor"), (int, float)) and report.loss_curve:
        out.append(_plot("loss", plot_loss(report, finding=f, reruns=False), "loss against the floor"))
    if f.category in ("optim.lr_too_high", "optim.lr_too_low") and (report.probes.get("lr_range") or {}).get("lrs"):
        out.append(_plot("lr_range", plot_lr_range(report), "LR range test"))
    if f.evidence.get("target_histogram"):
        out.append(_plot("output_range", plot_output_range(report, f), "targets vs output range"))
    if f.category in ("grad.exploding", "grad.vanishing") and report.grad_norms:
        out.append(_plot("grad_flow", plot_grad_flow(report), "gradient norm per layer"))
    return out


def document(report: Report) -> str:
    """The report as one self-contained HTML page (no script, no external resource)."""
    from .plots import plot_grad_flow, plot_loss
    e = lambda v: escape(str(v), quote=True)          # noqa: E731
    color = STATUS_COLOR.get(report.status, "#000")
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           "<meta name='viewport' content='width=device-width,initial-scale=1'>",
           # no script may run, nothing may load from elsewhere: the report only shows data
           "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
           "img-src data:\">",
           f"<title>torchdoctor: {e(report.status)} - {e(report.script or 'diagnosis')}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>torchdoctor report</h1><p class='meta'>{e(report.script or 'diagnose()')}"
           f"{(' ' + e(' '.join(report.args))) if report.args else ''}</p>",
           f"<div class='verdict' style='border-color:{color}'><b style='color:{color}'>{e(report.status)}</b>: "
           f"{e(report.summary)}</div>"]
    main = [f for f in report.findings if f.severity != "info"]
    ruled_out = [f for f in report.findings if f.severity == "info"]
    if main:
        out.append("<h2>Findings</h2>")
    for i, f in enumerate(main + ruled_out, 1):
        if f is (ruled_out[0] if ruled_out else None):
            out.append("<h2>Checked and ruled out</h2>")
        sev = SEVERITY_COLOR.get(f.severity, "#000")
        out.append(f"<section class='finding' style='border-left-color:{sev}'>")
        out.append(f"<h3>{i}. <span style='color:{sev}'>{e(f.severity.upper())}</span> {e(f.title)}</h3>")
        out.append(f"<div class='meta'><code>{e(f.code)}</code> <code>{e(f.category)}</code> &middot; "
                   f"{e(f.confidence)}{(' &middot; at ' + e(f.location)) if f.location else ''}</div>")
        out.append(f"<p>{e(f.message)}</p>")
        ev = {k: v for k, v in f.evidence.items() if not isinstance(v, dict)}    # dicts: plot data
        if ev:
            out.append("<table><tr><th>evidence</th><th>value</th></tr>" + "".join(
                f"<tr><td>{e(k.replace('_', ' '))}</td><td>{e(_value(v))}</td></tr>" for k, v in ev.items())
                + "</table>")
        v = f.verified or {}
        if f.confidence == "confirmed" and v:
            how = ("re-running with " + e(v.get("change")) if v.get("method") == "counterfactual"
                   else "analysis: " + e(v.get("change", "")))
            out.append(f"<p><b>Confirmed</b> by {how}: {e(v.get('metric', ''))} {e(num(v.get('before')))} "
                       f"&rarr; {e(num(v.get('after')))}</p>")
        if f.tests:
            out.append("<table><tr><th>re-run</th><th>outcome</th><th>steps</th><th>loss at the end</th></tr>" + "".join(
                f"<tr><td>{e(t.get('change'))}</td><td>{e(t.get('outcome'))}{(': ' + e(t['error'])) if t.get('error') else ''}"
                f"</td><td>{e(t.get('steps', ''))}</td><td>{e(num(t.get('loss_end')))}</td></tr>" for t in f.tests)
                + "</table>")
        if f.fix:
            out.append(f"<p><b>Fix:</b> {e(f.fix.get('summary', ''))}</p>{_diff(f)}")
        out.extend(_finding_plots(report, f))
        out.append("</section>")
    out.append("<h2>The run</h2>")
    if report.loss_curve:
        out.append(_plot("loss", plot_loss(report, reruns=False), "loss of the observed run"))
    if report.grad_norms:
        out.append(_plot("grad_flow", plot_grad_flow(report), "gradient norm per layer, sampled steps"))
    rows = [("script", report.script or "diagnose()"), ("arguments", " ".join(report.args) or "-"),
            ("outcome", report.outcome), ("steps observed", report.steps_observed),
            ("loss", f"{num(report.loss_start)} -> {num(report.loss_end)}"),
            ("seconds", ", ".join(f"{k} {v:.1f}" for k, v in report.wall_s.items())),
            ("torch", report.torch_version), ("torchdoctor", report.tool.get("version", "")),
            ("run at", report.created or "-")]
    if report.error:
        rows.insert(3, ("error", report.error))
    out.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows) + "</table>")
    if report.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out)
