import torch
import torch.nn as nn

from torchdoctor.checks.loss import double_softmax, logits_mismatch, target_shape

from helpers import blobs, findings_of, loop

X, Y = blobs()


def classifier(*tail):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4), *tail)


def test_double_softmax_caught_with_its_floor():
    [f] = findings_of(double_softmax, loop(classifier(nn.Softmax(dim=1)), nn.CrossEntropyLoss(), lambda: (X, Y)))
    assert f.category == "loss.double_softmax" and f.evidence["classes"] == 4
    assert abs(f.evidence["loss_floor"] - 0.7437) < 1e-3          # log(1 + 3/e)
    assert f.plan_data["bypass"][:3] == ("Sequential", "3", "Softmax")


def test_double_softmax_quiet_on_logits_and_on_log_softmax():
    assert findings_of(double_softmax, loop(classifier(), nn.CrossEntropyLoss(), lambda: (X, Y))) == []
    # log_softmax is idempotent: CrossEntropyLoss after LogSoftmax trains exactly like on logits
    assert findings_of(double_softmax, loop(classifier(nn.LogSoftmax(dim=1)), nn.CrossEntropyLoss(),
                                            lambda: (X, Y))) == []


BIN = (Y % 2).float().unsqueeze(1)


def binary(*tail):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1), *tail)


def test_bce_with_logits_after_a_sigmoid_is_caught():
    [f] = findings_of(logits_mismatch, loop(binary(nn.Sigmoid()), nn.BCEWithLogitsLoss(), lambda: (X, BIN)))
    assert f.category == "loss.logits_mismatch" and f.evidence["last_op"] == "Sigmoid"
    assert 0.45 < f.evidence["loss_floor"] < 0.55                  # half 0.313, half 0.693
    assert f.plan_data["exp"][0] == "bypass"


def test_bce_on_raw_scores_is_caught_even_though_it_crashes():
    def train():
        try:
            loop(binary(), nn.BCELoss(), lambda: (X, BIN))()
        except RuntimeError:                                          # BCELoss rejects values outside [0, 1]
            pass
    [f] = findings_of(logits_mismatch, train)
    assert f.evidence["loss"] == "BCELoss" and f.evidence["outside_0_1"] > 0
    assert f.plan_data["exp"][:4] == ("apply", "Sequential", "", "sigmoid")


def test_nll_on_raw_scores_is_caught():
    [f] = findings_of(logits_mismatch, loop(classifier(), nn.NLLLoss(), lambda: (X, Y), steps=50))
    assert f.evidence["loss"] == "NLLLoss" and f.evidence["lowest_loss"] < 0


def test_matching_losses_are_quiet():
    assert findings_of(logits_mismatch, loop(binary(), nn.BCEWithLogitsLoss(), lambda: (X, BIN))) == []
    assert findings_of(logits_mismatch, loop(binary(nn.Sigmoid()), nn.BCELoss(), lambda: (X, BIN))) == []
    assert findings_of(logits_mismatch, loop(classifier(nn.LogSoftmax(dim=1)), nn.NLLLoss(), lambda: (X, Y))) == []


def test_target_shape_broadcast_is_caught_and_equal_shapes_are_quiet():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1)                                                      # (64,) against a (64, 1) prediction
    [f] = findings_of(target_shape, loop(nn.Linear(4, 1), nn.MSELoss(), lambda: (x, y), steps=20))
    assert f.evidence["pred_shape"] == [64, 1] and f.evidence["target_shape"] == [64]
    assert f.evidence["broadcast_shape"] == [64, 64]
    assert findings_of(target_shape, loop(nn.Linear(4, 1), nn.MSELoss(), lambda: (x, y.unsqueeze(1)), steps=20)) == []
