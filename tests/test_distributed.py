"""Distributed training: `torchrun -m torchdoctor run` and watch() inside DDP scripts
(2 processes, gloo, CPU), and the merge of the ranks' statistics."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

from helpers import SCRIPTS, run_cli
from torchdoctor.capture import distributed
from torchdoctor.capture.hooks import Observer
from torchdoctor.capture.trace import RowReservoir, Series, Trace

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is needed")


def torchrun(*args, cwd, timeout: float = 150):
    """`python -m torch.distributed.run --standalone --nproc_per_node=2 ARGS`: (rc, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_PORT")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**env, "OMP_NUM_THREADS": "1"}, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


# ---- end to end ------------------------------------------------------------------
def test_torchrun_run_reports_once_for_all_ranks(tmp_path):
    out = tmp_path / "report.json"
    rc, _, stderr = torchrun("-m", "torchdoctor", "run", "--json", out, "--verify-steps", "200",
                             "--fail-on", "never", SCRIPTS / "ddp_sigmoid.py", "300", cwd=tmp_path)
    assert rc == 0, stderr[-3000:]
    assert stderr.count("torchdoctor: problems") == 1            # one report, by rank 0
    assert stderr.count("under observation") == 1                # the other rank says nothing
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    report = json.loads(out.read_text())
    top = report["findings"][0]
    assert top["category"] == "activation.output_range"
    assert top["location"] == "model.3 (Sigmoid)"                # not model.module.3
    assert top["confidence"] == "confirmed"
    change = [t for t in top["tests"] if t.get("change", "").startswith("Sigmoid")]
    assert change and change[0]["outcome"] == "max_steps"      # the one-process re-run trained, bypassing it
    assert change[0]["loss_end"] < 0.5 * report["loss_end"]
    assert any(n.startswith("Combined 2 ranks") for n in report["notes"])
    assert report["steps_observed"] == 300

    # the same script as one process finds the same top finding
    port = distributed.free_port()
    env = dict(os.environ, WORLD_SIZE="1", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    single = tmp_path / "single.json"
    proc = subprocess.run([sys.executable, "-m", "torchdoctor", "run", "--json", single, "--verify-steps", "200",
                           "--fail-on", "never", "-q", SCRIPTS / "ddp_sigmoid.py", "300"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads(single.read_text())
    assert (one["findings"][0]["category"], one["findings"][0]["location"]) == (top["category"], top["location"])
    assert not any("ranks" in n for n in one["notes"])


def test_watch_in_ddp_script_combines_on_rank0(tmp_path):
    rc, _, stderr = torchrun(SCRIPTS / "ddp_watch.py", tmp_path, cwd=tmp_path)
    assert rc == 0, stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    l0, l1 = (json.loads((tmp_path / f"losses{r}.json").read_text()) for r in (0, 1))
    assert any(n.startswith("Combined 2 ranks") for n in r0["notes"])
    assert any(n.startswith("Rank 1 of 2") for n in r1["notes"])
    # rank 0's curve is the mean of the ranks' losses, step by step; rank 1's is its own
    for step, value in r0["loss_curve"][:5]:
        assert value == pytest.approx((l0[int(step)] + l1[int(step)]) / 2, rel=1e-6)
    assert r1["loss_curve"][0][1] == pytest.approx(l1[0], rel=1e-6)
    assert r0["findings"][0]["category"] == "activation.output_range"
    assert r0["findings"][0]["location"] == "model.3 (Sigmoid)"
    # pooled targets: rank 1's shard (std 2) lies outside (0, 1) more often than rank 0's (std 1)
    share = {r: rep["findings"][0]["evidence"]["targets_outside_range"] for r, rep in ((0, r0), (1, r1))}
    assert 0.66 < share[0] < share[1]


def test_torchrun_script_failing_on_every_rank(tmp_path):
    rc, _, stderr = torchrun("-m", "torchdoctor", "run", "--no-verify", SCRIPTS / "ddp_crash.py", cwd=tmp_path)
    assert rc != 0                                              # the job fails, as it would have
    assert "ValueError: bad batch on rank 1" in stderr          # rank 1's own traceback
    assert stderr.count("torchdoctor: crashed") == 1            # and one report, rank 0's, whole
    assert "Rank 1's script failed: ValueError: bad batch on rank 1." in stderr


def test_torchrun_timeout_stops_every_rank_at_the_same_step(tmp_path):
    rc, _, stderr = torchrun("-m", "torchdoctor", "run", "--no-verify", "--timeout", "3", "--fail-on", "never",
                             SCRIPTS / "ddp_sigmoid.py", "1000000", cwd=tmp_path, timeout=100)
    assert rc == 0, stderr[-3000:]
    assert "stopped the script after" in stderr
    assert "Combined 2 ranks" in stderr and "sent nothing" not in stderr


# ---- in process: naming inside DDP, the merge, the re-runs' environment --------------
@pytest.fixture
def one_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("find_unused", [False, True])
def test_ddp_names_read_like_the_plain_model(one_process_group, find_unused):
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.Sigmoid()), find_unused_parameters=find_unused)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    obs = Observer()
    with obs:
        for _ in range(3):
            x = torch.randn(16, 4)
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    obs.finish({"model": model})
    trace = obs.trace
    assert [l.name for l in trace.model.leaves] == ["0", "1", "2", "3"]
    assert trace.loss_info.final_module.name == "3"            # seen through DDP's sink, too
    assert trace.loss_info.final_module_id == ("DistributedDataParallel", "3")
    assert trace.loss_info.final_op == "SigmoidBackward0"
    assert {p.name for p in trace.params} >= {"model.0.weight", "model.2.bias"}
    # one process: nothing to combine
    assert distributed.combine(trace) == (trace, [])


def _series(values):
    s = Series()
    for v in values:
        s.append(v)
    return s


def test_mean_series_is_the_mean_step_by_step():
    a, b = _series([float(i) for i in range(2000)]), _series([float(3 * i) for i in range(2000)])
    m = distributed.mean_series([a, b])
    assert m.count == 2000
    assert m.head[:3] == [0.0, 2.0, 4.0]
    assert m.tail_values()[-1] == 2 * 1999
    assert all(v == 2 * s for s, v in m.history)
    c = _series([1.0, float("nan"), 2.0])
    d = _series([1.0, 1.0, 4.0])
    m = distributed.mean_series([c, d])
    assert m.first_nonfinite == 1 and m.tail_values()[-1] == 3.0


def test_pool_keeps_a_uniform_share_of_each_rank():
    a, b = RowReservoir(100), RowReservoir(100)
    a.add(torch.zeros(300, 2))          # rank 0 saw 300 rows
    b.add(torch.ones(100, 2))           # rank 1 saw 100
    p = distributed.pool([a, b])
    rows = p.sample()
    assert rows.shape == (100, 2) and p.seen == 400
    assert float(rows[:, 0].mean()) == pytest.approx(0.25, abs=0.02)
    small = RowReservoir(100)
    small.add(torch.ones(10, 2))
    assert distributed.pool([small, None]) is small


def test_merge_leaves_the_inputs_alone():
    t0, t1 = Trace(), Trace()
    t0.loss, t1.loss = _series([1.0, 1.0]), _series([3.0, 3.0])
    t0.steps = t1.steps = 2
    t0.same_batches, t1.same_batches = 1, 2
    merged = distributed.merge([t0, t1])
    assert merged.loss.head == [2.0, 2.0] and merged.steps == 2 and merged.same_batches == 3
    assert t0.loss.head == [1.0, 1.0] and t0.same_batches == 1


def test_rerun_environment_is_one_process_on_its_own_port():
    env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500",
           "TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_RUN_ID": "x", "PATH": "/bin"}
    out = distributed.single_process_env(env)
    assert (out["WORLD_SIZE"], out["RANK"], out["LOCAL_RANK"]) == ("1", "0", "0")
    assert out["MASTER_PORT"] != "29500" and not any(k.startswith("TORCHELASTIC_") for k in out)
    assert out["PATH"] == "/bin" and env["RANK"] == "1"
    assert distributed.single_process_env({"PATH": "/bin"}) == {"PATH": "/bin"}
