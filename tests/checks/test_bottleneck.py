import torch
import torch.nn as nn

from torchdoctor.checks.base import Context
from torchdoctor.checks.capacity import bottleneck

from helpers import identity_training, observe


def findings(model, steps=400, **kw):
    return bottleneck.check(Context(observe(identity_training(model, lr=0.01, steps=steps, **kw))))


def test_catches_the_seed_example_1_with_the_pca_floor():
    torch.manual_seed(0)
    [f] = findings(nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 10)))
    assert f.category == "capacity.bottleneck" and f.severity == "error"
    assert f.location == "model.0 (Linear)"
    assert f.evidence["narrowest_width"] == 5 and f.evidence["target_dim"] == 10
    assert 0.45 <= f.evidence["loss_floor"] <= 0.55          # 5 of 10 unit-variance directions lost
    assert f.evidence["prediction_rank"] == 5
    assert f.confidence == "confirmed" and f.verified["method"] == "analytic"


def test_quiet_on_a_wide_enough_identity_learner():
    torch.manual_seed(0)
    assert findings(nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 10))) == []


def test_quiet_on_a_bottleneck_the_data_does_not_need():
    # targets of rank 3 living in 10-d: a 5-wide autoencoder loses nothing
    torch.manual_seed(0)
    mix = torch.randn(3, 10)
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 10))
    assert findings(model, target_fn=lambda x: x[:, :3] @ mix) == []


def test_quiet_when_a_skip_connection_routes_around_the_narrow_layer():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.down, self.up = nn.Linear(10, 2), nn.Linear(2, 10)

        def forward(self, x):
            return x + self.up(torch.relu(self.down(x)))
    torch.manual_seed(0)
    assert findings(Residual(), steps=100) == []
