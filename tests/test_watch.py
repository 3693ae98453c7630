"""torchdoctor.watch(): observe-only, scoped to one model, hooks always removed."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.optim.optimizer as optimizer_hooks

import torchdoctor


def train(model, opt, steps, doctor=None, at=None, seed=0):
    """The seed's loop: fresh N(0,1) batches, MSE against the identity."""
    g = torch.Generator().manual_seed(seed)
    reports = []
    for i in range(steps):
        x = torch.randn(64, 10, generator=g)
        loss = nn.functional.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if doctor is not None and i + 1 == at:
            reports.append(doctor.report())
    return reports


def make(width=5, lr=0.01):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, 10))
    return m, torch.optim.Adam(m.parameters(), lr=lr)


def no_hooks_left():
    return not torch.nn.modules.module._global_forward_hooks and \
        not torch.nn.modules.module._global_forward_pre_hooks and \
        not optimizer_hooks._global_optimizer_pre_hooks and \
        torch.Tensor.backward.__module__ == "torch._tensor"


def test_bottleneck_found_by_watching_and_healthy_model_quiet():
    model, opt = make(width=5)
    with torchdoctor.watch(model, opt) as doctor:
        train(model, opt, 600)
    f = next(f for f in doctor.report().findings if f.severity == "error")
    assert f.category == "capacity.bottleneck" and f.location == "model.0 (Linear)"
    assert f.confidence == "confirmed" and f.verified["method"] == "analytic"
    model, opt = make(width=64)
    with torchdoctor.watch(model, opt) as doctor:
        train(model, opt, 600)
    assert doctor.report().status == "healthy", doctor.report().summary


def test_report_any_time_then_final_and_training_is_unchanged():
    model, opt = make(width=5)
    with torchdoctor.watch(model, opt) as doctor:
        mid = train(model, opt, 300, doctor, at=150)[0]
    assert mid.outcome == "running" and mid.steps_observed == 150
    final = doctor.report()
    assert final.outcome == "finished" and final.steps_observed == 300
    watched = [p.detach().clone() for p in model.parameters()]
    model, opt = make(width=5)
    train(model, opt, 300)                               # the same training, unwatched
    assert all(torch.equal(a, b) for a, b in zip(watched, model.parameters()))
    assert no_hooks_left()


def test_only_the_watched_model_and_its_optimizer_are_observed():
    model, opt = make(width=64)
    other = nn.Sequential(nn.Linear(10, 10), nn.Sigmoid())     # would be an output-range fault
    other_opt = torch.optim.SGD(other.parameters(), lr=0.1)
    with torchdoctor.watch(model, opt) as doctor:
        for _ in range(100):
            x = torch.randn(32, 10)
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad(), loss.backward(), opt.step()
            other_opt.zero_grad()
            nn.functional.mse_loss(other(x), x).backward()
            other_opt.step()
    trace = doctor.observer.trace
    assert [m.type for m in trace.models] == ["Sequential"] and len(trace.models) == 1
    assert trace.steps == 100 and [o.type for o in trace.optimizers] == ["Adam"]


def test_an_exception_in_the_loop_propagates_and_hooks_are_removed():
    model, opt = make()
    with pytest.raises(RuntimeError, match="boom"):
        with torchdoctor.watch(model, opt) as doctor:
            train(model, opt, 20)
            raise RuntimeError("boom")
    assert doctor.report().status == "crashed" and doctor.report().error == "RuntimeError: boom"
    assert no_hooks_left()


def test_watch_rejects_what_is_not_a_model():
    with pytest.raises(TypeError, match="nn.Module"):
        torchdoctor.watch("model")
