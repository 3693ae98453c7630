"""Progress on long work: the live display on a terminal only, the re-runs' step counts."""
from __future__ import annotations

import io
import os
import re

from rich.console import Console

from torchdoctor import cli
from torchdoctor.checks.base import RunOutcome
from torchdoctor.experiments.counterfactual import RunSpec, run_one

from helpers import SCRIPTS


def feed(progress, clock, monkeypatch):
    """An observed run of 20 s and two re-runs, as diagnose_script reports them."""
    t = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: t[0])
    progress("observe_start", script="train.py")
    for step in range(1, 2001):
        t[0] = 100.0 + step / 100                       # 100 steps/s
        progress("observe_step", step=step, loss=1.0 / step)
    progress("observe_done", steps=2000, outcome="finished", wall_s=20.0)
    progress("verify_start", runs=["baseline", "lr ×0.1"], steps=1000)
    progress("verify_run_step", label="baseline", step=500, steps=1000)
    progress("verify_run_done", label="baseline", outcome=RunOutcome("max_steps", wall_s=3.0))
    progress("verify_done", wall_s=3.0)


def test_live_progress_on_a_terminal(monkeypatch):
    out = io.StringIO()
    p = cli._Progress(Console(file=out, force_terminal=True, width=100, highlight=False), quiet=False)
    feed(p, None, monkeypatch)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())      # without the terminal's escapes
    assert "step 200, 100 steps/s, loss 0.005" in text            # first after 2 s
    assert text.count("steps/s") == 1 + (2000 - 200) // 500       # then every 5 s
    assert "re-run with baseline" in text
    assert p._bars is None                                          # the bars are gone at the end


def test_no_live_progress_when_not_a_terminal_and_nothing_when_quiet(monkeypatch):
    out = io.StringIO()
    feed(cli._Progress(Console(file=out, force_terminal=False), quiet=False), None, monkeypatch)
    assert "steps/s" not in out.getvalue() and "re-run with baseline" in out.getvalue()
    out = io.StringIO()
    feed(cli._Progress(Console(file=out, force_terminal=True), quiet=True), None, monkeypatch)
    assert out.getvalue() == ""


def test_a_rerun_reports_its_steps_while_it_runs():
    spec = RunSpec(script=str(SCRIPTS / "low_lr.py"), args=[], cwd=os.getcwd(), steps=400, timeout=120)
    seen = []
    run = run_one(spec, seen.append)
    assert run.steps == 400 and seen and seen == sorted(seen) and 0 < max(seen) <= 400
