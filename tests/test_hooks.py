import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim.optimizer as optim_hooks
from torch.nn.modules import module as module_hooks

from torchdoctor.capture.hooks import Observer, StopTraining
from torchdoctor.experiments.interventions import Bypass, ScaleLR

from helpers import identity_training, observe


def test_records_structure_loss_and_steps():
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10), nn.Sigmoid())
    trace = observe(identity_training(model, lr=0.01, steps=30))
    m = trace.model
    assert [(l.name, l.type, l.out_shape) for l in m.leaves] == [
        ("0", "Linear", [64, 5]), ("1", "ReLU", [64, 5]), ("2", "Linear", [64, 10]), ("3", "Sigmoid", [64, 10])]
    loss = trace.loss_info
    assert loss.kind == "mse_loss" and loss.pred_shape == [64, 10] and loss.target_shape == [64, 10]
    assert loss.final_op == "SigmoidBackward0"
    assert loss.final_module.name == "3" and loss.final_module_id == ("Sequential", "3")
    assert trace.steps == 30 and trace.loss.count == 30 and trace.backward_calls == 30
    assert trace.optimizers[0].type == "Adam" and trace.optimizers[0].groups[0]["lr"] == 0.01
    assert trace.lr.head[0] == 0.01 and trace.grad_norm.count > 0 and trace.update_ratio.count > 0


def test_functional_loss_and_a_view_of_the_output_are_traced_to_the_model():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def train():
        for _ in range(5):
            x = torch.randn(16, 4)
            loss = F.l1_loss(model(x).squeeze(1), x.sum(1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    trace = observe(train)
    assert trace.loss_info.kind == "l1_loss"
    assert trace.loss_info.model == 0 and trace.loss_info.final_op == "AddmmBackward0"


def test_everything_is_removed_afterwards_even_when_the_loop_raises():
    before = (F.mse_loss, torch.Tensor.backward, torch.autograd.backward,
              dict(module_hooks._global_forward_hooks), dict(module_hooks._global_forward_pre_hooks),
              dict(optim_hooks._global_optimizer_pre_hooks), dict(optim_hooks._global_optimizer_post_hooks))
    model = nn.Linear(3, 3)
    try:
        with Observer():
            F.mse_loss(model(torch.randn(2, 3)), torch.zeros(2, 3)).backward()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    after = (F.mse_loss, torch.Tensor.backward, torch.autograd.backward,
             dict(module_hooks._global_forward_hooks), dict(module_hooks._global_forward_pre_hooks),
             dict(optim_hooks._global_optimizer_pre_hooks), dict(optim_hooks._global_optimizer_post_hooks))
    assert before == after


def test_observing_does_not_change_the_training_or_its_rng():
    def run(observed: bool):
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 10))
        train = identity_training(model, lr=0.01, steps=20, seed=3)
        if observed:
            observe(train)
        else:
            train()
        return [p.detach().clone() for p in model.parameters()], torch.random.get_rng_state()
    (p1, rng1), (p2, rng2) = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    assert torch.equal(rng1, rng2)


def test_max_steps_stops_the_loop():
    model = nn.Linear(10, 10)
    trace = observe(identity_training(model, lr=0.01, steps=100), max_steps=7)
    assert trace.steps == 7


def test_scale_lr_scales_each_step_and_restores_the_lr():
    model = nn.Linear(1, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with Observer(interventions=[ScaleLR(0.1)]):
        model.weight.grad = torch.ones(1, 1)
        w0 = model.weight.item()
        opt.step()
    assert abs((w0 - model.weight.item()) - 0.05) < 1e-6      # stepped with 0.5 * 0.1
    assert opt.param_groups[0]["lr"] == 0.5                     # the optimizer's own lr is untouched


def test_bypass_returns_the_module_input():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    x = torch.randn(3, 2)
    with Observer(interventions=[Bypass("Sequential", "1", "Sigmoid")]):
        out = model(x)
    assert torch.allclose(out, model[0](x))
    assert torch.allclose(model(x), torch.sigmoid(model[0](x)))   # hooks gone afterwards


def test_stop_training_is_not_caught_by_except_exception():
    assert not issubclass(StopTraining, Exception)


def test_a_users_once_per_line_warning_still_shows_once():
    import warnings
    model = nn.Linear(3, 3)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")                  # Python's default: once per line
        with Observer():
            for _ in range(5):
                F.mse_loss(model(torch.randn(4, 3)), torch.zeros(4, 3)).backward()
                warnings.warn("slow path taken")
    assert sum("slow path" in str(w.message) for w in seen) == 1
