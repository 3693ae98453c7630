"""data.unnormalized: inputs or targets on a scale far from what training expects.

What it detects:
    Model inputs whose features have a root-mean-square above 10 (or feature
    scales that differ by more than 100x), or regression targets with an RMS
    above 100, e.g. raw temperatures, prices, pixel values in 0-255.

Why training fails:
    Default initialisations assume inputs of unit scale. Large inputs make the
    first layer's gradients huge, so only a tiny learning rate is stable, and at
    that rate the bias and the small-scale directions barely move: the loss
    stalls or diverges. Large targets need huge output weights, reached slowly.

Fix:
    Standardise: subtract the mean and divide by the standard deviation of each
    feature (computed on the training set), and the same for regression
    targets (map predictions back afterwards).

Evidence:
    The RMS of the inputs and of the targets, the largest and smallest feature
    scale, where the data was seen. Confirmed by re-running with standardised
    inputs (and targets, predictions mapped back so the loss keeps its units).
"""
from __future__ import annotations

import math

import torch

from ...experiments.interventions import Standardize
from ..base import Context, Experiment, confirm_by_rerun, fmt, make_finding

CODE = "D001"
CATEGORY = "data.unnormalized"
TITLE = "Inputs or targets are not normalised"
PRIORITY = 15
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
x = torch.empty(2000, 1).uniform_(-500, 500)   # raw degrees
loss = ((x * w + b - y) ** 2).mean()
"""
FIXED = """\
x = (x - x.mean(0)) / x.std(0)   # standardise with training-set statistics
"""

# Standardised data has RMS 1 and [0, 1] data at most 1; ten times that is
# outside what variance-preserving default initialisations are built for.
MAX_RMS = 10.0
# Targets: a final linear layer and Adam reach outputs in the tens within a few
# hundred steps (ages, scores, temperatures train fine); at 100x unit scale the
# output weights need that growth too and training crawls.
MAX_TARGET_RMS = 100.0
# Features whose scales differ 100x make a loss surface with a 10^4 condition number.
MAX_SPREAD = 100.0
REGRESSION = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


def _rms(x: torch.Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt())


def check(ctx: Context):
    trace = ctx.trace
    x = trace.inputs.sample() if trace.inputs is not None else None
    loss = trace.loss_info
    t = loss.targets.sample() if loss is not None and loss.kind in REGRESSION and loss.targets is not None else None
    problems, evidence = [], {}
    if x is not None and x.shape[0] >= 2 and bool(torch.isfinite(x).all()):
        scale = x.double().pow(2).mean(0).sqrt()                          # (F,) per-feature RMS
        live = scale[x.double().std(0) > 0]
        evidence.update(input_rms=_rms(x), input_feature_rms_max=float(scale.max()),
                        input_source=trace.input_source)
        if _rms(x) > MAX_RMS:
            problems.append(f"the inputs have an RMS of {fmt(_rms(x))}")
        if live.numel() >= 2 and float(live.min()) > 0 and float(live.max() / live.min()) > MAX_SPREAD:
            evidence["input_feature_spread"] = float(live.max() / live.min())
            problems.append(f"input feature scales differ {float(live.max() / live.min()):.0f}x")
    if t is not None and t.shape[0] >= 2 and bool(torch.isfinite(t).all()):
        evidence["target_rms"] = _rms(t)
        if _rms(t) > MAX_TARGET_RMS:
            problems.append(f"the regression targets have an RMS of {fmt(_rms(t))}")
    if not problems:
        return []
    f = make_finding(
        __name__, severity="warning", location=evidence.get("input_source") or "the data",
        message="The data is far from unit scale: " + "; ".join(problems) + ".",
        evidence=evidence,
        fix={"summary": "Standardise inputs (and regression targets) with the training set's mean and std.",
             "code": "x = (x - x.mean(0)) / x.std(0)  # compute the stats on the training set once"})
    model = trace.model
    if model is not None and trace.input_source == "model input" and x is not None:
        std = x.double().std(0)
        f.plan_data["standardize"] = {
            "model_type": model.type, "in_mean": x.double().mean(0).tolist(),
            "in_std": torch.where(std > 0, std, torch.ones_like(std)).tolist()}
        if t is not None and "the regression targets" in " ".join(problems):
            ts = t.double().std(0)
            f.plan_data["standardize"].update(out_mean=t.double().mean(0).tolist(),
                                              out_std=torch.where(ts > 0, ts, torch.ones_like(ts)).tolist())
    return [f]


def plan(finding):
    s = finding.plan_data.get("standardize")
    return [Experiment([Standardize(**s)])] if s else []


def conclude(finding, baseline, results):
    if confirm_by_rerun(finding, baseline, results, refute=False):
        finding.severity = "error"
