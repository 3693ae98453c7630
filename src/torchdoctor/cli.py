"""The command line: `torchdoctor run [OPTIONS] SCRIPT [ARGS...]` and `torchdoctor demo`.

Exit codes: 0 no finding at or above --fail-on; 1 findings; 2 usage error or
the script itself failed; 3 torchdoctor itself failed (a bug); 130 interrupted.
"""
from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .capture import distributed
from .capture.script import ScriptResult
from .doctor import VERIFY_STEPS, Options, diagnose_script
from .checks.registry import get
from .report.docs import markdown, rules_rows, write_docs
from .report.model import Report
from .report.terminal import num, render

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# The live line of the observed run: first after 2 s (a short run shows none), then every
# 5 s (between the script's own prints, few enough not to drown them).
LIVE_FIRST_S, LIVE_EVERY_S = 2.0, 5.0
EXAMPLES_DIR = Path(__file__).parent / "examples" / "seed"
DEMO = [
    ("example1_bottleneck.py", "seed 1: 10-5-10 ReLU"),
    ("example2_sigmoid.py", "seed 2: final Sigmoid"),
    ("example3_high_lr.py", "seed 3: Adam lr=1.0"),
    ("healthy_identity.py", "healthy: 10-64-10"),
]


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _guard(fn):
    """Any failure inside torchdoctor becomes one clear line and exit code 3, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _stderr().print("torchdoctor: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:  # a bug of ours: say so plainly
            if os.environ.get("TORCHDOCTOR_DEBUG"):
                traceback.print_exc()
            _stderr().print(f"[bold red]torchdoctor: internal error:[/] {type(e).__name__}: {escape(str(e))}\n"
                            "Set TORCHDOCTOR_DEBUG=1 for the traceback, and please report it.")
            sys.exit(EXIT_INTERNAL)
    return wrapper


class _Progress:
    """Progress on stderr. The milestones (the run stopped, the re-runs planned and each
    one's result) are always printed, as a record of what was tested; the live display
    (the observed run's step, steps/s and loss every few seconds; a bar per re-run with
    its ETA) only when stderr is a terminal. Nothing at all with --quiet."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet
        self.live = console.is_terminal and not quiet
        self._t0 = self._last = 0.0
        self._bars = None                 # rich Progress during the re-runs
        self._tasks: dict[str, Any] = {}

    def __call__(self, event: str, **info: Any) -> None:
        if self.quiet:
            return
        c = functools.partial((self._bars.console if self._bars else self.console).print, soft_wrap=True)
        if event == "observe_start":
            self._t0 = self._last = time.monotonic()
            c(f"[dim]torchdoctor: running {escape(str(info['script']))} under observation[/]")
        elif event == "observe_step":
            now = time.monotonic()
            if self.live and now - self._last >= (LIVE_FIRST_S if self._last == self._t0 else LIVE_EVERY_S):
                self._last = now
                loss = info.get("loss")
                rate = info["step"] / max(now - self._t0, 1e-9)
                c(f"[dim]torchdoctor: step {info['step']:,}, {rate:,.0f} steps/s"
                  + (f", loss {num(loss)}" if loss is not None else "") + "[/]")
        elif event == "observe_done":
            if info["outcome"] == "max_steps":
                c(f"[dim]torchdoctor: stopped the script after {info['steps']} steps (--max-steps)[/]")
            elif info["outcome"] == "timeout":
                c(f"[dim]torchdoctor: stopped the script after {info['wall_s']:.0f} s (--timeout)[/]")
        elif event == "probe_start":
            c(f"[dim]torchdoctor: {info['probe']}: one re-run sweeping the learning rate[/]")
        elif event == "probe_done":
            r = info["result"]
            what = (f"suggests lr={r.suggestion:.3g} ({r.confidence} confidence)" if r.descending
                    else "the loss never went down: no suggestion")
            c(f"[dim]  {info['probe']}: {what} ({info.get('wall_s', 0):.1f} s)[/]")
        elif event == "verify_start":
            runs = info["runs"]
            c(f"[dim]torchdoctor: testing suspicions with {len(runs)} re-runs of "
              f"{info['steps']} steps ({', '.join(escape(r) for r in runs)})[/]")
            if self.live:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
                self._bars = Progress(TextColumn("  [dim]{task.description}[/]"), BarColumn(bar_width=24),
                                      MofNCompleteColumn(), TextColumn("steps, ETA"), TimeRemainingColumn(),
                                      console=self.console, transient=True)
                self._tasks = {r: self._bars.add_task(escape(r), total=info["steps"]) for r in runs}
                self._bars.start()
        elif event == "verify_run_step":
            if self._bars is not None and info["label"] in self._tasks:
                self._bars.update(self._tasks[info["label"]], completed=min(info["step"], info["steps"]))
        elif event == "verify_run_done":
            r = info["outcome"]
            what = f"loss at the end {num(r.end)}" if r.ok else escape(r.error or r.outcome)
            if self._bars is not None and info["label"] in self._tasks:
                self._bars.remove_task(self._tasks.pop(info["label"]))
            c(f"[dim]  re-run with {escape(info['label'])}: {what} ({r.wall_s:.1f} s)[/]")
        elif event == "verify_done":
            self.close()

    def close(self) -> None:
        """Stop the live display (also on Ctrl-C and errors)."""
        if self._bars is not None:
            self._bars.stop()
            self._bars, self._tasks = None, {}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torchdoctor")
def main() -> None:
    """Why is my PyTorch model not learning? torchdoctor watches a training run, tests
    its suspicions by re-running the training with one change, and reports the causes
    it confirmed, with numbers and a fix."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON to FILE.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write the report as one self-contained HTML page (with plots) to FILE.")
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop the script after N optimizer steps.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Stop the script after S seconds (confirmation runs have their own budget).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error",
              show_default=True, help="Exit with 1 when a finding of this severity or worse is found.")
@click.option("--no-verify", is_flag=True, help="Do not re-run the training to confirm suspicions.")
@click.option("--verify-steps", type=click.IntRange(min=1), default=VERIFY_STEPS, show_default=True,
              help="Optimizer steps of each confirmation run (compared at equal steps).")
@click.option("--jobs", type=click.IntRange(min=1), help="Confirmation runs in parallel [default: one per core].")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@click.argument("script")
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@_guard
def run(script: str, script_args: tuple[str, ...], json_path: str | None, html_path: str | None,
        max_steps: int | None, timeout: float | None, fail_on: str, no_verify: bool, verify_steps: int,
        jobs: int | None, quiet: bool) -> None:
    """Run SCRIPT with ARGS as `python SCRIPT ARGS` would, watch its training, and diagnose it.

    Options for torchdoctor come before SCRIPT; everything after it is the script's own.
    """
    err = _stderr()
    if script.startswith("-") and not os.path.exists(script):
        raise click.UsageError(f"No such option: {script}")
    if not os.path.exists(script):
        raise click.BadParameter(f"file {script!r} does not exist", param_hint="SCRIPT")
    if not os.path.isfile(script):
        raise click.BadParameter(f"{script!r} is not a file", param_hint="SCRIPT")
    if json_path:
        json_path = _check_output(json_path, script, "--json")
    if html_path:
        html_path = _check_output(html_path, script, "--html")
    options = Options(max_steps=max_steps, timeout=timeout, verify=not no_verify,
                      verify_steps=verify_steps, jobs=jobs)
    rank = distributed.world()[0]          # under torchrun only rank 0 reports, for every rank
    progress = _Progress(err, quiet or rank > 0)
    try:
        report, result = diagnose_script(script, script_args, options, progress=progress)
    finally:
        progress.close()
    if rank > 0:
        sys.exit(other_rank_exit(result))
    try:
        _finish_run(report, result, err, json_path, fail_on, html_path)
    finally:
        distributed.release()


def _finish_run(report: Report, result: ScriptResult, err: Console, json_path: str | None,
                fail_on: str, html_path: str | None = None) -> None:
    if result.traceback:
        sys.stderr.write(result.traceback)
        sys.stderr.flush()
    if report.status == "crashed":
        what = report.error or f"it exited with code {report.exit_code}"
        covers = (f"The diagnosis below covers the {report.steps_observed} steps before that."
                  if report.steps_observed else "It failed before its first optimizer step.")
        err.print(f"[bold red]torchdoctor: the script failed:[/] {escape(what)}. {covers}", soft_wrap=True)
    elif report.outcome == "interrupted":
        err.print("[bold yellow]torchdoctor: interrupted:[/] the diagnosis below covers the "
                  f"{report.steps_observed} steps before Ctrl-C (no confirmation runs).", soft_wrap=True)
    render(report, err)
    for path, text in ((json_path, report.to_json), (html_path, report.to_html)):
        if not path:
            continue
        try:
            Path(path).write_text(text(), encoding="utf-8")
        except OSError as e:
            err.print(f"[bold red]torchdoctor: cannot write {escape(path)}:[/] {escape(str(e.strerror))}")
            sys.exit(EXIT_USAGE)
    sys.exit(exit_code(report, fail_on))


def other_rank_exit(result: ScriptResult) -> int:
    """Exit code of a rank other than 0, which prints nothing of torchdoctor's own: 0 when
    its script ran, so that torchrun (which stops every worker when one fails) lets rank 0
    finish the report; when its script failed, its traceback and then, once rank 0 has
    reported (or is stuck in the script), 2, so the job fails as it would have."""
    if result.outcome == "interrupted":
        return EXIT_INTERRUPTED
    if result.outcome in ("crashed", "exit"):
        if result.traceback:
            sys.stderr.write(result.traceback)
            sys.stderr.flush()
        distributed.wait_for_rank0()
        return EXIT_USAGE
    return EXIT_OK


def _check_output(path: str, script: str, option: str = "--json") -> str:
    """An absolute path for a report file, checked before the (long) run, never the script."""
    p = Path(path).expanduser().resolve()
    if p.exists() and p.samefile(script):
        raise click.BadParameter("is the script itself; choose another file", param_hint=option)
    if p.suffix == ".py" and p.exists():
        raise click.BadParameter(f"{path} is a Python file; refusing to overwrite it", param_hint=option)
    if p.is_dir():
        raise click.BadParameter(f"{path} is a folder", param_hint=option)
    if not p.parent.is_dir():
        raise click.BadParameter(f"folder {p.parent} does not exist", param_hint=option)
    if not os.access(p.parent, os.W_OK):
        raise click.BadParameter(f"folder {p.parent} is not writable", param_hint=option)
    return str(p)


def exit_code(report: Report, fail_on: str) -> int:
    if report.interrupted:
        return EXIT_INTERRUPTED
    if report.status == "crashed":
        return EXIT_USAGE
    levels = {"error": ("error",), "warning": ("error", "warning"), "never": ()}[fail_on]
    return EXIT_FINDINGS if any(f.severity in levels for f in report.findings) else EXIT_OK


@main.command()
@_guard
def rules() -> None:
    """List every check: code, category, title, and how a finding is confirmed."""
    table = Table(title="torchdoctor checks")
    for col in ("code", "category", "title", "confirmed by"):
        table.add_column(col, no_wrap=col in ("code", "category"))
    for row in rules_rows():
        table.add_row(*row)
    Console().print(table)


@main.command()
@click.argument("code")
@_guard
def explain(code: str) -> None:
    """Explain one check, named by its code (A001) or its category (loss.double_softmax)."""
    check = get(code)
    if check is None:
        raise click.BadParameter(f"no check {code!r}; `torchdoctor rules` lists them", param_hint="CODE")
    from rich.markdown import Markdown
    Console().print(Markdown(markdown(check)))


@main.command(hidden=True)
@click.argument("folder", default="docs/checks")
@_guard
def docs(folder: str) -> None:
    """Write one Markdown page per check, and an index, into FOLDER."""
    for p in write_docs(folder):
        click.echo(p)


@main.command()
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@_guard
def demo(quiet: bool) -> None:
    """Diagnose the bundled examples: the seed's three failing models and a healthy one."""
    err = _stderr()
    rows = []
    for name, label in DEMO:
        path = EXAMPLES_DIR / name
        if not quiet:
            err.print(f"[bold]{label}[/]  [dim]({path.name})[/]")
        progress = _Progress(err, quiet)
        try:
            report, _ = diagnose_script(str(path), [], Options(quiet_script=True), progress=progress)
        finally:
            progress.close()
        rows.append((label, report))
    table = Table(title="torchdoctor demo: the seed's examples", show_lines=True)
    for col in ("example", "verdict", "top finding", "confirmation"):
        table.add_column(col, no_wrap=col != "confirmation")
    for label, report in rows:
        top = next((f for f in report.findings if f.severity in ("error", "warning")), None)
        if top is None:
            finding, conf = "-", f"loss {num(report.loss_start)} -> {num(report.loss_end)}"
        else:
            finding = f"{top.category}\n{top.location or ''}"
            v = top.verified
            if top.confidence == "confirmed" and v:
                if v.get("method") == "counterfactual":
                    conf = f"loss {num(v['before'])} -> {num(v['after'])} with {v['change']}"
                else:
                    conf = f"plateau {num(v['before'])} sits on the floor {num(v['after'])}"
            else:
                conf = top.confidence
        table.add_row(label, report.status, finding, conf)
    Console().print(table)
    first = EXAMPLES_DIR / DEMO[0][0]
    short = Path("examples", "seed", DEMO[0][0])           # the repository's examples/ link
    if short.exists() and short.samefile(first):
        first = short
    Console().print(f"The full report of one: torchdoctor run {first}")
