import torch
import torch.nn as nn

from torchdoctor.capture.trace import Series
from torchdoctor.checks.base import Context, RunOutcome
from torchdoctor.checks.optim import lr_too_high, lr_too_low
from torchdoctor.report.model import Finding

from helpers import identity_training, observe


def trace_of(model, lr, steps=1000, opt="Adam"):
    torch.manual_seed(0)
    return observe(identity_training(model, lr=lr, steps=steps, opt=opt))


def series(values):
    s = Series()
    for v in values:
        s.append(v)
    return s


def outcome(level, steps=100):
    return RunOutcome("max_steps", steps=steps, loss=series([level] * steps))


def test_high_lr_suspects_the_seed_example_3():
    [f] = lr_too_high.check(Context(trace_of(nn.Linear(10, 10), lr=1.0)))
    assert f.category == "optim.lr_too_high" and f.evidence["lr"] == 1.0
    assert f.evidence["loss_end"] > 10 * f.evidence["loss_best"]
    assert [e.interventions[0].factor for e in lr_too_high.plan(f)] == [0.1, 0.01]


def test_high_lr_suspects_a_diverging_sgd_run():
    [f] = lr_too_high.check(Context(trace_of(nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10)),
                                             lr=5.0, steps=100, opt="SGD")))
    assert f.severity == "error" and f.evidence["nonfinite_step"] is not None


def test_high_lr_quiet_on_healthy_runs():
    assert lr_too_high.check(Context(trace_of(nn.Linear(10, 10), lr=0.01))) == []
    healthy = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))
    assert lr_too_high.check(Context(trace_of(healthy, lr=0.01))) == []


def test_high_lr_conclusion_picks_the_best_rate_or_refutes():
    [f] = lr_too_high.check(Context(trace_of(nn.Linear(10, 10), lr=1.0)))
    e1, e2 = lr_too_high.plan(f)
    lr_too_high.conclude(f, outcome(0.2), [(e1, outcome(1e-6)), (e2, outcome(1e-3))])
    assert f.confidence == "confirmed" and f.severity == "error"
    assert f.evidence["suggested_lr"] == 0.1 and f.verified["before"] == 0.2 and f.verified["after"] == 1e-6
    [g] = lr_too_high.check(Context(trace_of(nn.Linear(10, 10), lr=1.0)))
    lr_too_high.conclude(g, outcome(0.2), [(e1, outcome(0.15)), (e2, outcome(0.3))])
    assert g.confidence == "refuted" and g.severity == "info"


def test_low_lr_suspects_a_slow_run_and_is_quiet_on_a_converged_one():
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    [f] = lr_too_low.check(Context(trace_of(model, lr=0.001)))
    assert f.category == "optim.lr_too_low" and f.evidence["falling_last_30pct"] >= 0.25
    assert [e.interventions[0].factor for e in lr_too_low.plan(f)] == [10.0, 100.0]
    healthy = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))
    assert lr_too_low.check(Context(trace_of(healthy, lr=0.01))) == []


def test_low_lr_stays_quiet_when_a_proven_floor_explains_the_level():
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    trace = trace_of(model, lr=0.001)
    floor = Finding(code="A001", category="activation.output_range", severity="error", title="", message="",
                    evidence={"loss_floor": 0.1})
    assert lr_too_low.check(Context(trace, [floor])) == []


def test_low_lr_never_raised_together_with_high_lr():
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    trace = trace_of(model, lr=0.001)
    high = Finding(code="O001", category="optim.lr_too_high", severity="warning", title="", message="")
    assert lr_too_low.check(Context(trace, [high])) == []
