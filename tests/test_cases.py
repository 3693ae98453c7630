"""Faulty scripts written apart from the benchmark (a held-out trial), each with the
category that must come first. They guard the general fixes they prompted."""
import json

import pytest

from helpers import ROOT, ranked, run_cli

CASES = {
    "nonlinear_bottleneck.py": "capacity.bottleneck",      # 2-unit layer behind a ReLU decoder
    "collapsed_cnn_high_lr.py": "optim.lr_too_high",       # SGD lr=3 collapses to the prior, no NaN
    "adam_tiny_lr.py": "optim.lr_too_low",                 # Adam lr=1e-6: the loss barely moves
    "frozen_by_mistake.py": "graph.frozen",                # every layer frozen, one scalar still trains
    "extreme_dropout.py": "regularization.dropout",        # p=0.95 in a 16-unit net
}


@pytest.mark.parametrize("script, expected", sorted(CASES.items()))
def test_the_right_cause_comes_first(script, expected, tmp_path):
    out = tmp_path / "r.json"
    path = ROOT / "tests" / "cases" / script
    run_cli("run", "-q", "--json", out, path, cwd=path.parent, timeout=300)
    top = ranked(json.loads(out.read_text()))
    assert top and top[0]["category"] == expected, [f["category"] for f in top]
