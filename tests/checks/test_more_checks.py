import torch
import torch.nn as nn

from torchdoctor.capture.trace import Series
from torchdoctor.checks.activation import dead_relu, saturation
from torchdoctor.checks.base import Context, RunOutcome
from torchdoctor.checks.capacity import too_small
from torchdoctor.checks.data import misaligned, same_batch
from torchdoctor.checks.grad import vanishing
from torchdoctor.checks.loss import wrong_kind
from torchdoctor.checks.mode import eval_mode
from torchdoctor.checks.regularization import dropout

from helpers import blobs, findings_of, loop

torch.manual_seed(0)
X = torch.randn(256, 10)
T = torch.sin(X[:, :1]) + X[:, 1:2]


def test_dead_relu_caught_and_a_normal_relu_net_is_quiet():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    nn.init.constant_(model[0].bias, -20.0)
    [f] = findings_of(dead_relu, loop(model, nn.MSELoss(), lambda: (X, T), steps=60))
    assert f.evidence["dead_share"] > 0.9 and f.plan_data["bypass"][4] == "leaky_relu"
    torch.manual_seed(0)
    ok = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    assert findings_of(dead_relu, loop(ok, nn.MSELoss(), lambda: (X, T), steps=60)) == []


def test_saturated_tanh_caught_and_normalised_tanh_quiet():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
    [f] = findings_of(saturation, loop(model, nn.MSELoss(), lambda: (X * 50, T), steps=60, lr=1e-4))
    assert f.evidence["saturated_share"] > 0.5
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
    assert findings_of(saturation, loop(model, nn.MSELoss(), lambda: (X, T), steps=60)) == []


def test_vanishing_gradients_in_a_deep_sigmoid_stack_and_not_in_a_relu_one():
    def deep(act, depth=12):
        torch.manual_seed(0)
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(32, 32), act()]
        return nn.Sequential(nn.Linear(10, 32), *layers, nn.Linear(32, 1))
    [f] = findings_of(vanishing, loop(deep(nn.Sigmoid), nn.MSELoss(), lambda: (X, T), steps=30, opt="SGD", lr=0.01))
    assert f.evidence["first_ratio"] < 1e-3 * f.evidence["last_ratio"]
    # (a 12-deep ReLU stack with PyTorch's default init really does lose its gradient: not a healthy example)
    assert findings_of(vanishing, loop(deep(nn.ReLU, 3), nn.MSELoss(), lambda: (X, T), steps=30, opt="SGD", lr=0.01)) == []


def test_training_in_eval_mode_is_caught_and_validation_in_eval_mode_is_not():
    xs, ys = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))

    def stuck_in_eval():
        opt = torch.optim.Adam(model.parameters())
        model.eval()
        for _ in range(20):
            loss = nn.functional.cross_entropy(model(xs), ys)
            opt.zero_grad()
            loss.backward()
            opt.step()
    [f] = findings_of(eval_mode, stuck_in_eval)
    assert f.evidence["eval_mode_training_forwards"] == 20

    def healthy():
        opt = torch.optim.Adam(model.parameters())
        for _ in range(20):
            model.train()
            loss = nn.functional.cross_entropy(model(xs), ys)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                model(xs)
    assert findings_of(eval_mode, healthy) == []


def test_heavy_dropout_suspected_only_when_the_loss_does_not_move():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 4), nn.ReLU(), nn.Dropout(0.9), nn.Linear(4, 1))
    [f] = findings_of(dropout, loop(model, nn.MSELoss(), lambda: (X, T), steps=100, lr=1e-3))
    assert f.evidence["dropout_p"] == [0.9] and len(f.plan_data["bypass"]) == 1
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1))
    assert findings_of(dropout, loop(model, nn.MSELoss(), lambda: (X, T), steps=200, lr=1e-2)) == []


def test_wrong_kind_of_loss_is_caught_and_right_kinds_are_quiet():
    xs, ys = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

    def mse_on_labels():
        try:
            loop(model, lambda out, y: nn.functional.mse_loss(out.squeeze(1), y), lambda: (xs, ys), steps=3)()
        except RuntimeError:
            pass                                     # MSE on long targets raises
    [f] = findings_of(wrong_kind, mse_on_labels)
    assert f.evidence["target_dtype"] == "torch.int64"
    clf = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    assert findings_of(wrong_kind, loop(clf, nn.CrossEntropyLoss(), lambda: (xs, ys), steps=3)) == []
    soft = torch.softmax(torch.randn(512, 4), 1)     # soft labels are distributions: fine
    assert findings_of(wrong_kind, loop(clf, nn.CrossEntropyLoss(), lambda: (xs, soft), steps=3)) == []


def series(values):
    s = Series()
    for v in values:
        s.append(v)
    return s


def test_constant_level_runs_are_probed_and_the_probe_decides():
    torch.manual_seed(0)
    y = torch.randn(64, 1)                           # targets unrelated to a fresh x each step

    def shuffled():
        model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(100):
            loss = nn.functional.mse_loss(model(torch.randn(64, 10)), y[torch.randperm(64)])
            opt.zero_grad()
            loss.backward()
            opt.step()
    [m] = findings_of(misaligned, shuffled)
    [s] = findings_of(too_small, shuffled)
    assert m.evidence["observed_loss"] >= 0.8 * m.evidence["constant_loss"]
    assert misaligned.plan(m)[0].key == too_small.plan(s)[0].key          # one probe answers both
    base = RunOutcome("max_steps", steps=100, loss=series([1.0] * 100))
    fits = RunOutcome("max_steps", steps=100, loss=series([1.0] * 10 + [0.01] * 90))
    misaligned.conclude(m, base, [(misaligned.plan(m)[0], fits)])
    too_small.conclude(s, base, [(too_small.plan(s)[0], fits)])
    assert m.confidence == "confirmed" and m.severity == "error"
    assert s.confidence == "refuted" and s.severity == "info"


def test_a_learning_run_is_not_probed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    train = loop(model, nn.MSELoss(), lambda: (X, T), steps=100)
    assert findings_of(misaligned, train) == [] and findings_of(too_small, train) == []


def test_same_batch_from_a_loader_is_caught_and_full_batch_training_is_not():
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(X, T), batch_size=16, shuffle=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))

    def once():
        xb, yb = next(iter(loader))                  # the loader is iterated once, outside the loop
        loop(model, nn.MSELoss(), lambda: (xb, yb), steps=60)()
    [f] = findings_of(same_batch, once)
    assert f.evidence["dataset_size"] == 256 and f.evidence["batch_size"] == 16

    def epochs():
        opt = torch.optim.Adam(model.parameters())
        for _ in range(4):
            for xb, yb in loader:
                loss = nn.functional.mse_loss(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
    assert findings_of(same_batch, epochs) == []
    assert findings_of(same_batch, loop(model, nn.MSELoss(), lambda: (X, T), steps=60)) == []   # full batch
