import torch
import torch.nn as nn

from torchdoctor.capture.trace import Series
from torchdoctor.checks.base import Context, RunOutcome
from torchdoctor.checks.optim import lr_too_high, lr_too_low
from torchdoctor.report.model import Finding

from helpers import identity_training, loop, observe


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


def teacher_regression(dim, out, n=256, seed=0):
    """A fixed nonlinear regression set (a random tanh teacher), targets standardised."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = torch.tanh(2 * x @ torch.randn(dim, 32, generator=g) / dim ** 0.5) @ torch.randn(32, out, generator=g)
    return x, (y - y.mean(0)) / y.std(0)


def high_lr_findings(model, data, lr):
    torch.manual_seed(0)
    return lr_too_high.check(Context(observe(loop(model, nn.MSELoss(), lambda: data, steps=200, lr=lr))))


def test_high_lr_measures_from_step_0_when_the_first_steps_blow_up():
    # Found by tests/test_fuzz.py: Adam lr=1.0 throws the loss from 1.02 to ~25000 in two
    # steps and the dead net ends at the mean prediction (0.996). The head median (1554)
    # made that look like a 1500x fall; measured from step 0 the loss barely moved.
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    [f] = high_lr_findings(relu, teacher_regression(10, 3), lr=1.0)
    assert f.plan_data["stalled"] and "barely moved" in f.message
    assert abs(f.evidence["loss_start"] - 1.02) < 0.01 and f.evidence["loss_end"] > 0.9
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    assert high_lr_findings(relu, teacher_regression(10, 3), lr=0.01) == []


def test_high_lr_suspects_an_early_jump_the_run_recovers_from():
    # Also from the fuzzer: a 4-16-1 GELU regressor at Adam lr=1.0 jumps from 1.09 to 620
    # by step 2, then recovers to 0.048 (lr=0.1 ends at 0.0071 in the same 200 steps).
    torch.manual_seed(0)
    gelu = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 1))
    [f] = high_lr_findings(gelu, teacher_regression(4, 1), lr=1.0)
    assert "jumped from 1.09 at the first step to 620 at step 2" in f.message and not f.plan_data["stalled"]
    torch.manual_seed(0)
    gelu = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 1))
    assert high_lr_findings(gelu, teacher_regression(4, 1), lr=0.01) == []


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
