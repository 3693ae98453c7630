import torch
import torch.nn as nn

from torchdoctor.checks.optim import missing_zero_grad, no_step, params_missing, weight_decay

from helpers import findings_of, loop

torch.manual_seed(0)
X = torch.randn(128, 4)
T = X @ torch.randn(4, 2)


def test_missing_zero_grad_is_caught():
    [f] = findings_of(missing_zero_grad, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=30,
                                              opt="SGD", lr=0.01, zero_grad=False))
    assert f.evidence["stale_steps"] >= 28 and f.evidence["steps"] == 30


def test_gradient_accumulation_is_not_a_missing_zero_grad():
    model = nn.Linear(4, 2)

    def train():
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        opt.zero_grad()
        for i in range(40):                                     # step every 4 backward calls
            nn.functional.mse_loss(model(X), T).div(4).backward()
            if (i + 1) % 4 == 0:
                opt.step()
                opt.zero_grad()
    assert findings_of(missing_zero_grad, train) == []
    assert findings_of(missing_zero_grad, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=30)) == []


class ListMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = [nn.Linear(4, 16), nn.Linear(16, 16)]    # a plain list: not registered
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


def test_params_in_a_plain_list_are_caught_by_name():
    torch.manual_seed(0)
    [f] = findings_of(params_missing, loop(ListMLP(), nn.MSELoss(), lambda: (X, T), steps=10))
    assert f.evidence["missing"] == ["model.hidden[0].bias", "model.hidden[0].weight",
                                     "model.hidden[1].bias", "model.hidden[1].weight"]


def test_registered_layers_and_frozen_unoptimized_ones_are_quiet():
    class Ok(ListMLP):
        def __init__(self):
            super().__init__()
            self.hidden = nn.ModuleList(self.hidden)
    assert findings_of(params_missing, loop(Ok(), nn.MSELoss(), lambda: (X, T), steps=10)) == []
    backbone, head = nn.Linear(4, 16), nn.Linear(16, 2)
    for p in backbone.parameters():
        p.requires_grad = False

    def train():
        opt = torch.optim.SGD(head.parameters(), lr=0.1)
        for _ in range(10):
            loss = nn.functional.mse_loss(head(torch.relu(backbone(X))), T)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert findings_of(params_missing, train) == []


def test_no_step_and_zero_grad_between_backward_and_step_are_caught():
    model = nn.Linear(4, 2)

    def no_steps():
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(10):
            opt.zero_grad()
            nn.functional.mse_loss(model(X), T).backward()
    [f] = findings_of(no_step, no_steps)
    assert f.evidence["steps"] == 0 and f.evidence["backward_calls"] == 10

    def wrong_order():
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(10):
            nn.functional.mse_loss(model(X), T).backward()
            opt.zero_grad()
            opt.step()
    [g] = findings_of(no_step, wrong_order)
    assert g.evidence["steps_without_gradient"] == g.evidence["steps_checked"] == 10
    assert findings_of(no_step, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=10)) == []


def test_weight_decay_suspected_when_it_shrinks_weights_fast():
    [f] = findings_of(weight_decay, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=5,
                                         opt="SGD", lr=0.05, weight_decay=1.0))
    assert f.evidence["shrink_per_step"] == 0.05 and f.confidence == "suspected"
    assert findings_of(weight_decay, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=5,
                                          opt="SGD", lr=0.1, weight_decay=5e-4)) == []
    assert findings_of(weight_decay, loop(nn.Linear(4, 2), nn.MSELoss(), lambda: (X, T), steps=5,
                                          opt="AdamW", lr=1e-3)) == []     # AdamW's default 0.01
