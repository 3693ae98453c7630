"""The ranking rules of doctor.rank, and the rules that keep a symptom from being
reported as a cause: each is stated here and tested."""
import torch
import torch.nn as nn

from torchdoctor.checks.base import Context
from torchdoctor.doctor import judge, rank
from torchdoctor.report.model import Finding

from helpers import blobs, loop, observe


def finding(category, code, severity="error", confidence="confirmed", before=None, after=None):
    v = {"method": "counterfactual", "before": before, "after": after} if before is not None else None
    return Finding(code=code, category=category, severity=severity, title="", message="",
                   confidence=confidence, verified=v)


def test_errors_before_warnings_and_confirmed_before_suspected():
    w = finding("optim.lr_too_low", "O002", severity="warning")
    s = finding("graph.detached", "G001", confidence="suspected")
    c = finding("optim.weight_decay", "O005", before=1.0, after=0.4)
    assert [f.code for f in rank([w, s, c])] == ["O005", "G001", "O002"]


def test_a_root_cause_ranks_before_the_symptom_it_causes():
    # NaN caused by a learning rate that is too high: lr_too_high first, numeric.nonfinite after
    nan = finding("numeric.nonfinite", "N001", confidence="suspected")
    lr = finding("optim.lr_too_high", "O001", before=float("inf"), after=0.01)
    assert [f.code for f in rank([nan, lr])] == ["O001", "N001"]
    # both confirmed with gains of the same order: the check's priority decides
    lr2 = finding("optim.lr_too_high", "O001", before=10.0, after=0.5)
    grad = finding("grad.exploding", "V001", before=10.0, after=0.6)
    assert [f.code for f in rank([grad, lr2])] == ["O001", "V001"]


def test_the_fix_that_gains_more_orders_of_magnitude_ranks_first():
    wide = finding("activation.output_range", "A001", before=2690.0, after=1.09)
    small = finding("data.unnormalized", "D001", before=2690.0, after=141.0)
    assert [f.code for f in rank([small, wide])] == ["A001", "D001"]


def test_a_softmax_plateau_is_not_reported_as_a_too_low_learning_rate():
    x, y = blobs(n_classes=10, dim=20, n=1000)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))
    trace = observe(loop(model, nn.CrossEntropyLoss(), lambda: (x, y), steps=300, opt="SGD", lr=0.1))
    cats = [f.category for f in judge(trace)]
    assert "loss.double_softmax" in cats and "optim.lr_too_low" not in cats


def test_lr_too_high_and_lr_too_low_are_never_raised_together():
    torch.manual_seed(0)
    trace = observe(loop(nn.Linear(10, 10), nn.MSELoss(), lambda: (torch.randn(64, 10),) * 2, steps=400, lr=1.0))
    cats = [f.category for f in judge(trace)]
    assert "optim.lr_too_high" in cats and "optim.lr_too_low" not in cats
