"""The healthy-run suite (benchmarks/healthy/): no error-level finding on any script.
benchmarks/healthy_suite.py prints the same runs as a table with the warning count."""
import json
from pathlib import Path

import pytest

from helpers import ROOT, run_cli

SCRIPTS = sorted((ROOT / "benchmarks" / "healthy").glob("h*.py"))


def test_the_suite_is_large_and_varied_enough():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_no_error_level_finding_on_a_healthy_script(script, tmp_path):
    out = tmp_path / "r.json"
    # 300-step confirmation runs: a warning that would turn into an error needs a confirmed
    # gain, which shorter re-runs usually make rarer; a third of the default's time
    rc, _, stderr = run_cli("run", "-q", "--verify-steps", "300", "--json", out, script, cwd=script.parent,
                            timeout=300)
    report = json.loads(out.read_text())
    errors = [(f["category"], f["message"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == [] and rc == 0, errors
