"""Fixtures shared by the tests; plain helpers live in helpers.py."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli


@pytest.fixture
def diagnose_cli(tmp_path):
    """Run `torchdoctor run --json` on a script and return (rc, report dict, stderr)."""
    def _run(script, *extra: str, script_args=(), timeout: float = 120):
        out = tmp_path / "report.json"
        rc, stdout, stderr = run_cli("run", "--json", out, *extra, script, *script_args, timeout=timeout)
        report = json.loads(out.read_text()) if out.exists() else None
        return rc, report, stdout, stderr
    return _run
