"""Odd scripts and bad input: each case states what the user must see, and nothing else changes.

Every script is copied into a fresh folder first, so the files it writes are checked there.
"""
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

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


# ---- scripts that fail, stop or never train: each with its exit code, status and message ----
# (script, options, script args, exit code, status, outcome, what stderr must say)
ENDINGS = [
    ("import_error.py", ["--no-verify"], [], 2, "crashed", "crashed",
     "ModuleNotFoundError: No module named 'a_module_that_is_not_installed'"),
    ("construction_error.py", ["--no-verify"], [], 2, "crashed", "crashed",
     "ValueError: hidden size must be even, got 7"),
    ("exit3.py", ["--no-verify"], [], 2, "crashed", "exit", "exit code 3"),
    ("inference_only.py", [], [], 0, "no_training", "finished", "never called backward()"),
    ("zero_steps.py", [], ["0"], 0, "no_training", "finished", "never called backward()"),
]


@pytest.mark.parametrize("name, options, args, code, status, outcome, said", ENDINGS,
                         ids=[e[0] for e in ENDINGS])
def test_a_script_that_fails_or_never_trains_gets_a_clear_answer(case, name, options, args, code, status,
                                                                 outcome, said):
    rc, report, stdout, stderr = case(name, *options, args=args)
    assert rc == code and report["status"] == status and report["outcome"] == outcome, (rc, report["summary"])
    assert said in stderr and said.split(":")[0] in report["summary"] + (report["error"] or "")
    if status == "crashed" and report["steps_observed"] == 0:
        assert "before its first training step" in report["summary"]


def test_exit_code_of_the_script_is_kept(case):
    rc, report, _, _ = case("exit3.py", "--no-verify")
    assert report["exit_code"] == 3 and report["steps_observed"] == 30


# ---- training loops of every shape: healthy ones stay healthy, faults are still found ----
HEALTHY = ["gan.py", "grad_accum.py", "scheduler.py", "no_params.py"]


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_loops_of_unusual_shapes_stay_healthy(case, name):
    rc, report, _, stderr = case(name)
    assert rc == 0 and report["status"] == "healthy", report["summary"]
    assert not any(f["category"] == "optim.missing_zero_grad" for f in report["findings"])


def test_a_gan_is_said_to_be_judged_without_the_loss_progress_checks(case):
    rc, report, _, _ = case("gan.py", "--no-verify")
    assert any("adversarial" in n for n in report["notes"])


@pytest.mark.parametrize("name", ["structured_outputs.py", "compiled.py", "bf16_autocast.py"])
def test_a_final_sigmoid_is_found_through_dicts_compile_and_autocast(case, name):
    rc, report, _, stderr = case(name)
    top = ranked(report)[0]
    assert rc == 1 and top["category"] == "activation.output_range" and "Sigmoid" in top["location"], top
    assert "_orig_mod" not in top["location"]


def test_argparse_script_reading_next_to_itself_from_another_folder(tmp_path):
    folder, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    shutil.copy(HERE / "argparse_file.py", folder / "train.py")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2]
    (folder / "data.txt").write_text("\n".join(" ".join(f"{v:.6f}" for v in [*r, t]) for r, t in zip(x.tolist(), y.tolist())))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "r.json"
    rc, stdout, stderr = run_cli("run", "--json", out, folder / "train.py", "--lr", "0.05", "--steps", "150",
                                 "--out", "out/w.pt", cwd=elsewhere, env={"TMPDIR": str(scratch)}, timeout=180)
    report = json.loads(out.read_text())
    assert rc == 0 and report["status"] == "healthy", (rc, report["summary"], stderr[-2000:])
    assert "lr=0.05 steps=150" in stdout and report["steps_observed"] == 150
    assert (elsewhere / "out" / "w.pt").exists()                 # its relative path, from its cwd
    assert sorted(p.name for p in folder.iterdir()) == ["data.txt", "train.py"]    # nothing else written there
    # torchdoctor's temporary files are gone (torch itself makes its inductor cache folder at import)
    assert [p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")] == []
