import os
from pathlib import Path

import pytest
import torch

from torchdoctor.capture.sandbox import WriteSandbox

from helpers import SCRIPTS


def test_writes_are_redirected_and_read_back_and_user_files_survive(tmp_path):
    user, box = tmp_path / "user", tmp_path / "box"
    user.mkdir(), box.mkdir()
    (user / "log.txt").write_text("real run\n")
    (user / "old.pt").write_text("keep me")
    (tmp_path / "systmp").mkdir()
    # the user's folder here lies in pytest's temp folder: tell the sandbox the system's is elsewhere
    with WriteSandbox(str(box), temp_dir=str(tmp_path / "systmp")):
        with open(user / "log.txt", "a") as f:                  # append: sees the old content, in the box
            f.write("re-run\n")
        assert (user / "log.txt").read_text() == "real run\nre-run\n"
        os.makedirs(user / "ckpt", exist_ok=True)
        torch.save({"w": torch.ones(2)}, user / "ckpt" / "model.pt")
        assert torch.equal(torch.load(user / "ckpt" / "model.pt")["w"], torch.ones(2))
        os.remove(user / "old.pt")                               # never deletes the user's file
        Path(user / "new.txt").write_text("x")
        os.replace(user / "new.txt", user / "final.txt")
    assert (user / "log.txt").read_text() == "real run\n"
    assert (user / "old.pt").read_text() == "keep me"
    assert sorted(p.name for p in user.iterdir()) == ["log.txt", "old.pt"]


def test_temp_folders_the_rerun_creates_work_normally(tmp_path):
    import tempfile
    box = tmp_path / "box"
    box.mkdir()
    with WriteSandbox(str(box)):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "a.txt"), "w") as f:
            f.write("x")
        assert os.listdir(d) == ["a.txt"]
    assert os.path.exists(os.path.join(d, "a.txt"))


def test_confirmation_reruns_do_not_write_the_users_files(diagnose_cli, tmp_path):
    script = tmp_path / "saver.py"
    script.write_text((SCRIPTS / "saver.py").read_text())
    rc, report, _, _ = diagnose_cli(script)
    assert report["findings"][0]["tests"], "the script was re-run"
    assert (tmp_path / "log.txt").read_text() == "start\n"      # one line: the observed run's only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "log.txt", "report.json", "saver.py"]
    # the checkpoint is the observed run's: the re-runs (other seeds, other lrs) saved theirs elsewhere
    assert (tmp_path / "ckpt" / "model.pt").stat().st_mtime <= (tmp_path / "log.txt").stat().st_mtime + 60
    assert (tmp_path / "ckpt" / "model.pt").stat().st_mtime < (tmp_path / "report.json").stat().st_mtime - 0.5
