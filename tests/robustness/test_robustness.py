"""Odd scripts and bad input: each case states what the user must see, and nothing else changes.

Every script is copied into a fresh folder first, so the files it writes are checked there.
"""
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import ranked, run_cli

HERE = Path(__file__).parent / "scripts"


@pytest.fixture
def case(tmp_path):
    """Copy a script into tmp_path and run `torchdoctor run --json` on it there."""
    def _run(name, *options, args=()):
        script = tmp_path / name
        shutil.copy(HERE / name, script)
        out = tmp_path / "report.json"
        rc, stdout, stderr = run_cli("run", "--json", out, *options, script, *args, cwd=tmp_path, timeout=180)
        report = json.loads(out.read_text()) if out.exists() else None
        assert "src/torchdoctor" not in stderr and "site-packages/torchdoctor" not in stderr, stderr
        return rc, report, stdout, stderr
    return _run


def reruns(report):
    """The re-runs of the top finding: [(change, loss_end, error)]."""
    return [(t["change"], t.get("loss_end"), t.get("error")) for t in report["findings"][0]["tests"]]


def test_empty_batches_do_not_break_the_script(case):
    rc, report, _, _ = case("empty_batch.py")
    assert report["outcome"] == "finished" and report["steps_observed"] == 200
    assert ranked(report)[0]["category"] == "activation.output_range"


def test_reruns_do_not_write_the_users_sqlite_database(case, tmp_path):
    rc, report, _, _ = case("sqlite_log.py")
    assert len(reruns(report)) == 2                               # baseline and the bypassed run
    rows = sqlite3.connect(tmp_path / "runs.db").execute("select count(*) from runs").fetchone()[0]
    assert rows == 1                                              # the observed run's row only


def test_temp_folders_and_dataloader_workers_work_in_reruns(case):
    rc, report, _, _ = case("workers_tempdir.py")
    assert all(err is None for _, _, err in reruns(report)), reruns(report)
    assert report["findings"][0]["confidence"] == "confirmed"


def test_ctrl_c_prints_the_report_so_far_and_exits_130(case):
    rc, report, _, stderr = case("ctrl_c.py")
    assert rc == 130 and report["outcome"] == "interrupted" and report["steps_observed"] == 21
    assert "interrupted" in stderr and report["findings"]
    assert report["findings"][0]["tests"] == []                   # no re-runs after Ctrl-C


def test_a_script_that_changes_directory(case, tmp_path):
    rc, report, _, _ = case("chdir.py")
    assert (tmp_path / "report.json").exists()                    # --json resolved before the script moved
    assert all(err is None for _, _, err in reruns(report)), reruns(report)


def test_a_script_that_replaces_and_closes_stderr_still_gets_its_report(case):
    rc, report, _, stderr = case("streams.py")
    assert "torchdoctor: problems" in stderr and rc == 1


def test_nan_in_the_data_is_not_blamed_on_the_learning_rate(case):
    rc, report, _, _ = case("nan_data.py")
    assert not any(f["category"] == "optim.lr_too_high" and f["severity"] == "error"
                   for f in report["findings"])


def test_bypassing_an_inplace_relu_is_confirmed(case):
    rc, report, _, _ = case("inplace_relu.py")
    f = ranked(report)[0]
    assert f["category"] == "activation.output_range" and f["confidence"] == "confirmed"


def test_a_script_that_resumes_from_its_checkpoint_is_said_so(case):
    rc, report, _, stderr = case("resume.py")
    f = ranked(report)[0]
    assert f["category"] == "activation.output_range"
    # the re-runs resume at the last step and train nothing: said, and never taken as a comparison
    assert any("checkpoint" in (t.get("error") or "") for t in f["tests"]), f["tests"]
    assert f["verified"] is None or f["verified"]["method"] == "analytic"


def test_os_exit_after_training_still_reports(case):
    rc, report, _, stderr = case("os_exit.py")
    assert report is not None and report["steps_observed"] == 200 and "torchdoctor:" in stderr


def test_max_steps_holds_even_when_the_script_swallows_every_exception(case):
    rc, report, stdout, _ = case("bare_except.py", "--max-steps", "50", "--no-verify")
    assert report["steps_observed"] == 50


def test_sys_exit_true_is_exit_code_1(case):
    rc, report, _, stderr = case("exit_true.py", "--no-verify")
    assert rc == 2 and report["exit_code"] == 1 and "exit code 1" in stderr


def test_json_that_would_overwrite_the_script_is_refused(tmp_path):
    script = tmp_path / "train.py"
    shutil.copy(HERE / "exit_true.py", script)
    before = script.read_text()
    rc, _, stderr = run_cli("run", "--json", script, script)
    assert rc == 2 and "script itself" in stderr and script.read_text() == before


def test_json_into_a_missing_folder_fails_before_running(tmp_path):
    rc, stdout, stderr = run_cli("run", "--json", tmp_path / "nodir" / "r.json", HERE / "bare_except.py")
    assert rc == 2 and "does not exist" in stderr and "LOOP-DONE" not in stdout


def test_an_unknown_option_before_the_script_is_a_usage_error():
    rc, _, stderr = run_cli("run", "--bogus", HERE / "exit_true.py")
    assert rc == 2 and "No such option: --bogus" in stderr
