"""torchdoctor.diagnose(): the pipeline on objects, and the caller's objects left alone."""
from __future__ import annotations

import json
import random

import numpy
import pytest
import torch
import torch.nn as nn

import torchdoctor
from torchdoctor.experiments.loop import DataError

from helpers import EXAMPLES, ranked, run_cli


def identity_batch():
    x = torch.randn(64, 10)
    return x, x.clone()


def seed_model(which: str):
    """The seed's three failing examples and the healthy model, as objects."""
    torch.manual_seed(0)
    if which == "example1_bottleneck":
        m, lr = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10)), 0.01
    elif which == "example2_sigmoid":
        m, lr = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.Sigmoid()), 0.001
    elif which == "example3_high_lr":
        m, lr = nn.Sequential(nn.Linear(10, 10)), 1.0
    else:
        m, lr = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10)), 0.01
    return m, torch.optim.Adam(m.parameters(), lr=lr)


def top(findings):
    return next((f for f in findings if f.severity in ("error", "warning")), None)


@pytest.mark.parametrize("name", ["example1_bottleneck", "example2_sigmoid", "example3_high_lr"])
def test_seed_examples_get_the_same_top_finding_as_torchdoctor_run(name, tmp_path):
    model, opt = seed_model(name)
    report = torchdoctor.diagnose(model, nn.MSELoss(), identity_batch, opt)
    out = tmp_path / "r.json"
    code, _, err = run_cli("run", "--json", out, EXAMPLES / f"{name}.py", timeout=300)
    assert code == 1, err
    via_run = ranked(json.loads(out.read_text()))[0]
    mine = top(report.findings)
    assert (mine.category, mine.location) == (via_run["category"], via_run["location"])
    assert mine.confidence == "confirmed"


def test_example1_bottleneck_is_confirmed_by_widening_the_copy():
    model, opt = seed_model("example1_bottleneck")
    f = top(torchdoctor.diagnose(model, nn.MSELoss(), identity_batch, opt).findings)
    assert f.category == "capacity.bottleneck" and f.location == "model.0 (Linear)"
    v = f.verified
    assert v["method"] == "counterfactual" and "widened to 20 units" in v["change"]
    assert v["before"] / v["after"] >= 10                      # the widened copy: at least 10x lower
    assert 0.45 <= f.evidence["loss_floor"] <= 0.55            # the rank-5 floor is still reported


def test_healthy_model_is_healthy():
    model, opt = seed_model("healthy")
    report = torchdoctor.diagnose(model, nn.MSELoss(), identity_batch, opt, steps=500)
    assert report.status == "healthy", report.summary
    assert not [f for f in report.findings if f.severity == "error"]


def test_too_small_model_is_confirmed_by_widening():
    torch.manual_seed(0)
    x = torch.randn(512, 4)
    y = torch.sin(3 * x[:, :1]) * torch.cos(2 * x[:, 1:2])            # (512, 1) needs many units
    model = nn.Sequential(nn.Linear(4, 1), nn.ReLU(), nn.Linear(1, 1))
    report = torchdoctor.diagnose(model, nn.MSELoss(), (x, y), torch.optim.Adam(model.parameters(), lr=0.01),
                                  steps=400)
    f = next(f for f in report.findings if f.category == "capacity.too_small")
    assert f.confidence == "confirmed", f.message
    assert "widened to 64 units" in f.verified["change"]


def _snapshot(model, opt):
    return ({k: v.clone() for k, v in model.state_dict().items()}, model.training,
            repr(opt.state_dict()["param_groups"]),
            {k: {n: t.clone() for n, t in s.items() if isinstance(t, torch.Tensor)}
             for k, s in opt.state_dict()["state"].items()},
            torch.random.get_rng_state().clone(), random.getstate(), numpy.random.get_state()[1].copy())


def test_callers_objects_and_rng_are_bit_for_bit_unchanged():
    model, opt = seed_model("example3_high_lr")
    for _ in range(3):                                  # the caller has trained a little: optimizer state exists
        x, y = identity_batch()
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    model.eval()
    before = _snapshot(model, opt)
    torchdoctor.diagnose(model, nn.MSELoss(), identity_batch, opt, steps=200)
    after = _snapshot(model, opt)
    sd0, sd1 = before[0], after[0]
    assert sd0.keys() == sd1.keys() and all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert before[1] == after[1] is False                     # still in eval mode
    assert before[2] == after[2]
    assert all(torch.equal(before[3][k][n], after[3][k][n]) for k in before[3] for n in before[3][k])
    assert torch.equal(before[4], after[4])
    assert before[5] == after[5]
    assert (before[6] == after[6]).all()
    assert model[0].weight.grad is not None                       # the caller's own gradient left as it was
    assert not torch.nn.modules.module._global_forward_hooks    # every hook removed


def _sigmoid_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 10), nn.Sigmoid())


def _top_category(data, **kw):
    m = _sigmoid_model()
    report = torchdoctor.diagnose(m, nn.MSELoss(), data, torch.optim.Adam(m.parameters(), lr=0.01),
                                  steps=200, **kw)
    return top(report.findings).category


def test_every_kind_of_data_is_accepted():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 10, generator=g)
    pairs = [(x[i:i + 32], x[i:i + 32].clone()) for i in range(0, 256, 32)]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.clone()), batch_size=32, shuffle=True)
    dicts = [{"x": a, "y": b} for a, b in pairs]
    odd = [{"feat": a, "goal": b} for a, b in pairs]
    for data, kw in [(loader, {}), (pairs, {}), ((x, x.clone()), {}), (identity_batch, {}),
                     (iter(pairs), {}), (dicts, {}), (odd, {"batch_fn": lambda b: (b["feat"], b["goal"])}),
                     (torch.utils.data.TensorDataset(x, x.clone()), {})]:
        assert _top_category(data, **kw) == "activation.output_range", type(data)


def test_bad_input_gets_a_clear_error():
    m = _sigmoid_model()
    with pytest.raises(TypeError, match="torch.nn.Module"):
        torchdoctor.diagnose("model", nn.MSELoss(), identity_batch)
    with pytest.raises(DataError, match="batch_fn"):
        torchdoctor.diagnose(m, nn.MSELoss(), [{"a": torch.randn(4, 10), "b": torch.randn(4, 10)}])
    with pytest.raises(DataError, match="single number"):
        torchdoctor.diagnose(m, nn.MSELoss(reduction="none"), identity_batch)
    with pytest.raises(DataError, match="no batch"):
        torchdoctor.diagnose(m, nn.MSELoss(), [])
    with pytest.raises(ValueError, match="steps"):
        torchdoctor.diagnose(m, nn.MSELoss(), identity_batch, steps=0)


def test_a_model_that_raises_gives_a_crashed_report():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 20:
                raise RuntimeError("boom")
            return self.fc(x)
    report = torchdoctor.diagnose(Broken(), nn.MSELoss(), identity_batch, steps=100)
    assert report.status == "crashed" and report.error == "RuntimeError: boom"
    assert report.steps_observed == 20


def test_report_round_trips_and_renders_safely():
    m = _sigmoid_model()
    report = torchdoctor.diagnose(m, nn.MSELoss(), identity_batch, torch.optim.Adam(m.parameters(), lr=0.01),
                                  steps=200)
    again = torchdoctor.Report.from_json(report.to_json())
    assert again.to_dict() == json.loads(report.to_json())
    assert "activation.output_range" in str(report)
    report.findings[0].location = "<script>alert(1)</script>"
    html = report._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
