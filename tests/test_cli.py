"""End to end: `torchdoctor run` on real scripts, as a user types it (the acceptance of the seed)."""
import pytest

from helpers import EXAMPLES, SCRIPTS, ranked, run_cli


def top(report):
    return ranked(report)[0]


def test_example1_bottleneck(diagnose_cli):
    rc, report, stdout, stderr = diagnose_cli(EXAMPLES / "example1_bottleneck.py")
    assert rc == 1 and report["status"] == "problems"
    f = top(report)
    assert f["category"] == "capacity.bottleneck" and f["severity"] == "error"
    assert f["location"] == "model.0 (Linear)" and f["evidence"]["narrowest_width"] == 5
    assert 0.45 <= f["evidence"]["loss_floor"] <= 0.55
    assert f["evidence"]["observed_loss"] > 0 and "plateau_on_floor" in f["evidence"]
    assert "Epoch 1000, Loss:" in stdout                      # the script's own output still reaches the terminal
    assert "5 units" in stderr and "0.4" in stderr            # the report names the width and the floor


def test_example2_sigmoid_confirmed_by_bypassing_it(diagnose_cli):
    rc, report, _, stderr = diagnose_cli(EXAMPLES / "example2_sigmoid.py")
    f = top(report)
    assert f["category"] == "activation.output_range" and f["severity"] == "error"
    assert "Sigmoid" in f["location"]
    assert 0.55 <= f["evidence"]["loss_floor"] <= 0.60
    assert abs(f["evidence"]["targets_outside_range"] - 0.66) < 0.03
    assert f["confidence"] == "confirmed" and f["verified"]["method"] == "counterfactual"
    assert "bypassed" in f["verified"]["change"]
    assert f["verified"]["after"] < f["evidence"]["loss_floor"] < f["verified"]["before"]


def test_example3_high_lr_confirmed_ten_times_lower(diagnose_cli):
    rc, report, _, _ = diagnose_cli(EXAMPLES / "example3_high_lr.py")
    f = top(report)
    assert f["category"] == "optim.lr_too_high" and f["confidence"] == "confirmed"
    assert f["verified"]["after"] * 10 <= f["verified"]["before"]
    assert f["evidence"]["suggested_lr"] in (0.1, 0.01)
    assert "lr=" in f["fix"]["code"]


def test_example2_without_sigmoid_is_lr_too_low(diagnose_cli):
    rc, report, _, _ = diagnose_cli(SCRIPTS / "low_lr.py")
    f = top(report)
    assert f["category"] == "optim.lr_too_low" and f["confidence"] == "confirmed"
    assert f["evidence"]["suggested_lr"] in (pytest.approx(0.01), pytest.approx(0.1))
    assert f["verified"]["after"] * 10 <= f["verified"]["before"]


def test_a_loss_that_barely_moves_under_tiny_sgd_steps_is_lr_too_low(diagnose_cli):
    rc, report, _, _ = diagnose_cli(SCRIPTS / "low_lr_sgd.py")
    f = top(report)
    assert f["category"] == "optim.lr_too_low" and f["confidence"] == "confirmed"
    assert f["verified"]["after"] * 2 <= f["verified"]["before"]


@pytest.mark.parametrize("script", [EXAMPLES / "healthy_identity.py", SCRIPTS / "example3_lr001.py"])
def test_healthy_runs_get_no_error_or_warning(diagnose_cli, script):
    rc, report, _, stderr = diagnose_cli(script)
    assert rc == 0 and report["status"] == "healthy" and ranked(report) == []
    assert "healthy" in stderr


def test_a_crash_midway_keeps_its_traceback_and_the_findings_before_it(diagnose_cli):
    rc, report, _, stderr = diagnose_cli(SCRIPTS / "crash_midway.py")
    assert rc == 2 and report["status"] == "crashed" and report["steps_observed"] == 30
    assert 'crash_midway.py", line 14' in stderr and "ValueError: validation batch" in stderr
    assert "torchdoctor: the script failed" in stderr
    assert "src/torchdoctor" not in stderr                    # no frame from inside torchdoctor
    assert report["findings"] and report["findings"][0]["category"] == "capacity.bottleneck"


@pytest.mark.parametrize("script, said", [("no_backward.py", "never called backward"),
                                          ("no_step.py", "no optimizer ever called step")])
def test_scripts_that_do_not_train_are_said_so(diagnose_cli, script, said):
    rc, report, _, stderr = diagnose_cli(SCRIPTS / script)
    assert report["status"] == "no_training" and said in report["summary"]
    assert "Traceback" not in stderr


def test_script_arguments_after_the_script_are_its_own(diagnose_cli):
    rc, report, stdout, _ = diagnose_cli(SCRIPTS / "argv_echo.py", "--no-verify",
                                         script_args=["--steps", "12", "--expect-name", "argv_echo.py"])
    assert "ARGS-OK 12" in stdout and report["steps_observed"] == 12


def test_max_steps_and_timeout_stop_the_script_and_still_report(diagnose_cli):
    rc, report, _, stderr = diagnose_cli(EXAMPLES / "example1_bottleneck.py", "--max-steps", "40", "--no-verify")
    assert report["steps_observed"] == 40 and report["outcome"] == "max_steps"
    rc, report, _, stderr = diagnose_cli(SCRIPTS / "forever.py", "--timeout", "2", "--no-verify")
    assert report["outcome"] == "timeout" and report["steps_observed"] > 0 and rc in (0, 1)


def test_fail_on_sets_the_exit_code(diagnose_cli):
    rc, *_ = diagnose_cli(EXAMPLES / "example1_bottleneck.py", "--fail-on", "never", "--no-verify",
                          "--max-steps", "300")
    assert rc == 0


def test_usage_errors_exit_2_without_a_traceback(tmp_path):
    rc, _, stderr = run_cli("run", tmp_path / "missing.py")
    assert rc == 2 and "does not exist" in stderr and "Traceback" not in stderr
    rc, _, stderr = run_cli("run", "--fail-on", "sometimes", EXAMPLES / "healthy_identity.py")
    assert rc == 2 and "Traceback" not in stderr


def test_demo_diagnoses_the_four_examples():
    rc, stdout, stderr = run_cli("demo", "--quiet", timeout=240)
    assert rc == 0, stderr
    for expected in ("capacity.bottleneck", "activation.output_range", "optim.lr_too_high", "healthy"):
        assert expected in stdout
