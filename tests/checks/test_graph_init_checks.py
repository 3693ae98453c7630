import torch
import torch.nn as nn

from torchdoctor.capture.trace import Series
from torchdoctor.checks.base import RunOutcome
from torchdoctor.checks.capacity import no_nonlinearity
from torchdoctor.checks.graph import detached, frozen
from torchdoctor.checks.init import symmetric
from torchdoctor.checks.grad import exploding
from torchdoctor.checks.numeric import nonfinite

from helpers import blobs, findings_of, loop

torch.manual_seed(0)
X = torch.randn(256, 6)
T = torch.sin(X[:, :1] * 2) + X[:, 1:2] ** 2


class Detaching(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.encoder(x).detach())


def test_detached_encoder_is_caught_by_name_and_a_whole_graph_is_quiet():
    torch.manual_seed(0)
    [f] = findings_of(detached, loop(Detaching(), nn.MSELoss(), lambda: (X, T), steps=20))
    assert f.evidence["no_gradient"] == ["model.encoder.0.bias", "model.encoder.0.weight"]
    torch.manual_seed(0)
    ok = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    assert findings_of(detached, loop(ok, nn.MSELoss(), lambda: (X, T), steps=20)) == []


def test_an_optimizer_of_frozen_params_is_caught_and_a_frozen_backbone_is_not():
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    for p in model.parameters():
        p.requires_grad = False

    def train():
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = X.clone().requires_grad_()                          # so backward() has something to do
        for _ in range(5):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), T).backward()
            opt.step()
    [f] = findings_of(frozen, train)
    assert len(f.evidence["frozen"]) == 4
    head = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    for p in head[0].parameters():
        p.requires_grad = False                                 # frozen backbone, trained head: healthy
    assert findings_of(frozen, loop(head, nn.MSELoss(), lambda: (X, T), steps=5)) == []


def test_a_linear_stack_on_xor_is_suspected_and_relu_between_is_quiet():
    xor_x = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    xor_y = torch.tensor([[0.0], [1], [1], [0]])
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1), nn.Sigmoid())
    [f] = findings_of(no_nonlinearity, loop(linear, nn.BCELoss(), lambda: (xor_x, xor_y), steps=500, lr=0.05))
    assert abs(f.evidence["linear_floor"] - 0.693) < 0.01      # log 2: no line separates XOR
    assert f.plan_data["apply"][:3] == ("Sequential", "0", "relu")
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    assert findings_of(no_nonlinearity, loop(relu, nn.BCELoss(), lambda: (xor_x, xor_y), steps=500, lr=0.05)) == []


def test_a_linear_stack_on_a_linear_task_is_quiet():
    x = torch.randn(256, 6)
    y = x @ torch.randn(6, 1)
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 1))
    assert findings_of(no_nonlinearity, loop(linear, nn.MSELoss(), lambda: (x, y), steps=300)) == []


def test_constant_init_is_caught_and_default_init_is_quiet():
    xs, ys = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.05)
    [f] = findings_of(symmetric, loop(model, nn.CrossEntropyLoss(), lambda: (xs, ys), steps=5))
    assert f.evidence["layers"] == ["0", "2"] and f.evidence["units"] == [32, 32]
    torch.manual_seed(0)
    ok = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    nn.init.zeros_(ok[2].weight)                                # a zero-initialised last layer is fine
    assert findings_of(symmetric, loop(ok, nn.CrossEntropyLoss(), lambda: (xs, ys), steps=5)) == []


def test_nan_is_traced_to_the_first_module_and_finite_runs_are_quiet():
    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x)                                 # log of negative numbers: NaN
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), Log(), nn.Linear(6, 1))
    [f] = findings_of(nonfinite, loop(model, nn.MSELoss(), lambda: (X, T), steps=5))
    assert f.location == "model.1 (Log)" and f.evidence["first_nonfinite_step"] == 0
    ok = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 1))
    assert findings_of(nonfinite, loop(ok, nn.MSELoss(), lambda: (X, T), steps=5)) == []


def test_exploding_gradients_are_suspected_and_steady_ones_are_quiet():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 1))
    [f] = findings_of(exploding, loop(model, nn.MSELoss(), lambda: (X, T), steps=60, opt="SGD", lr=0.5,
                                      momentum=0.9))
    assert f.evidence["grad_norm_max"] > 1000 * f.evidence["grad_norm_start"]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 1))
    assert findings_of(exploding, loop(model, nn.MSELoss(), lambda: (X, T), steps=60)) == []
