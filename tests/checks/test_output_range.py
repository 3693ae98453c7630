import math

import torch
import torch.nn as nn

from torchdoctor.checks.activation import output_range
from torchdoctor.checks.base import Context, RunOutcome
from torchdoctor.capture.trace import Series

from helpers import identity_training, observe


def findings(model, target_fn=lambda x: x.clone(), lr=0.001, steps=300):
    torch.manual_seed(0)
    return output_range.check(Context(observe(identity_training(model, lr=lr, steps=steps,
                                                                  target_fn=target_fn))))


def test_catches_a_sigmoid_before_mse_on_normal_targets():
    [f] = findings(nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.Sigmoid()))
    assert f.category == "activation.output_range" and f.severity == "error"
    assert f.location == "model.3 (Sigmoid)"
    assert 0.55 <= f.evidence["loss_floor"] <= 0.60           # E[dist(t, [0,1])^2] for t ~ N(0,1) = 0.575
    assert abs(f.evidence["targets_outside_range"] - 0.66) < 0.03
    assert f.plan_data["bypass"][:3] == ("Sequential", "3", "Sigmoid")


def test_catches_a_functional_tanh_on_targets_beyond_one():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)

        def forward(self, x):
            return torch.tanh(self.fc(x))
    [f] = findings(Net(), target_fn=lambda x: 3 * x)
    assert f.evidence["activation"] == "Tanh" and f.evidence["range"] == [-1.0, 1.0]
    assert "bypass" not in f.plan_data                            # no module to bypass: stays suspected


def test_quiet_on_a_sigmoid_with_targets_in_its_range():
    assert findings(nn.Sequential(nn.Linear(10, 10), nn.Sigmoid()), target_fn=torch.sigmoid) == []


def test_quiet_on_a_relu_output_with_positive_targets_and_on_a_linear_output():
    assert findings(nn.Sequential(nn.Linear(10, 10), nn.ReLU()), target_fn=lambda x: x.abs()) == []
    assert findings(nn.Sequential(nn.Linear(10, 10)), lr=0.01) == []


def series(values):
    s = Series()
    for v in values:
        s.append(v)
    return s


def test_confirmed_only_when_the_bypassed_run_beats_the_floor():
    [f] = findings(nn.Sequential(nn.Linear(10, 10), nn.Sigmoid()))
    [exp] = output_range.plan(f)
    baseline = RunOutcome("max_steps", steps=100, loss=series([0.7] * 100))
    output_range.conclude(f, baseline, [(exp, RunOutcome("max_steps", steps=100, loss=series([0.1] * 100)))])
    assert f.confidence == "confirmed" and f.verified["after"] == 0.1
    [g] = findings(nn.Sequential(nn.Linear(10, 10), nn.Sigmoid()))
    g.confidence = "suspected"
    output_range.conclude(g, baseline, [(exp, RunOutcome("max_steps", steps=100, loss=series([0.69] * 100)))])
    assert g.confidence == "suspected" and g.verified is None
