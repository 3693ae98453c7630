"""capacity.too_small: the model cannot fit even one small batch.

What it detects:
    A run whose loss ends near what an input-independent prediction scores,
    with no more specific cause found, and whose model, re-run on one batch
    over and over (the overfit-one-batch probe), cannot drive that batch's loss
    down to half of where it started.

Why training fails:
    A model that cannot memorise 64 examples has too few units or layers for
    the function asked of it; no optimizer setting will make it fit the data.

Fix:
    Make the model wider or deeper (and check the probe again: a healthy model
    fits one batch almost perfectly).

Evidence:
    The loss of the constant prediction, the observed loss, and the probe's
    loss at its start and end. A finding confirmed by another re-run (a
    learning rate, a missing zero_grad…) takes precedence over this one. When the
    tool owns the model (diagnose()), a copy with its narrowest hidden Linear layer
    widened (to max(64, 4k) units) is also trained the same way: a loss
    CONFIRM_FACTOR lower confirms the finding by re-run.
"""
from __future__ import annotations

import math

from ...capture import curves
from ...experiments.interventions import SameBatch
from ...experiments.surgery import widen_plan
from .. import fits
from ..base import CONFIRM_FACTOR, Context, Experiment, fmt, improvement, make_finding, record_tests

CODE = "C003"
CATEGORY = "capacity.too_small"
TITLE = "The model cannot fit even one batch"
PRIORITY = 45
CONFIRMATION = "re-run"   # re-run | analytic | evidence
EXAMPLE = """\
model = nn.Sequential(nn.Linear(10, 1), nn.ReLU(), nn.Linear(1, 1))   # one hidden unit
"""
FIXED = """\
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
"""

NEAR_CONSTANT = 0.8       # the loss ends above 80% of the constant prediction's loss
PROBE_FIT = 0.5           # the probe "fits" when one batch's loss halves
IGNORED = ("optim.lr_too_low", "optim.lr_too_high")   # tested side by side; reconciled afterwards
# The widened copy's hidden width: 4x the narrowest, and at least 64 units (the
# width of the healthy models of the seed and the benchmark).
WIDEN_MIN, WIDEN_FACTOR = 64, 4


def near_constant(ctx: Context) -> tuple[float, float, float] | None:
    """(observed, constant, floor) when the run ends near the input-independent loss,
    measured above the loss no model can remove (soft targets' entropy), with no
    specific finding to explain it; shared with data.misaligned."""
    trace, loss = ctx.trace, ctx.trace.loss_info
    if loss is None or trace.model is None or trace.steps < 50 or loss.targets is None:
        return None
    if ctx.multi_objective:              # adversarial losses are not meant to go down
        return None
    if any(f.severity in ("error", "warning") and f.category not in IGNORED for f in ctx.findings):
        return None
    t = loss.targets.sample()
    if t is None or t.shape[0] < 8:
        return None
    try:
        const, floor = fits.constant_loss(loss.kind, t), fits.irreducible_loss(loss.kind, t)
    except Exception:
        return None
    observed = curves.tail(trace.curve())
    room = const - floor                      # what a model using the input could remove
    if not (room > 1e-6 * max(const, 1e-12) and math.isfinite(observed)
            and observed - floor >= NEAR_CONSTANT * room):
        return None
    return observed, const, floor


def probe_fits(run, floor: float = 0.0) -> bool | None:
    """Did the overfit-one-batch probe halve its loss above the floor? None if it did not run."""
    if not run.ok or run.loss.count < 10:
        return None
    return curves.tail(run.loss) - floor <= PROBE_FIT * (curves.head(run.loss) - floor)


def check(ctx: Context):
    r = near_constant(ctx)
    if r is None:
        return []
    observed, const, floor = r
    f = make_finding(
        __name__, severity="info", location=ctx.trace.model.var,
        message=(f"The loss ends at {observed:.3g}, near the {const:.3g} of a prediction that ignores the input; "
                 "testing whether the model can fit even one batch."),
        evidence={"observed_loss": observed, "constant_loss": const, "irreducible_loss": floor})
    f.plan_data["model_type"] = ctx.trace.model.type
    if ctx.owns_model:
        model = ctx.trace.model
        hidden = [l for l in model.leaves if l.type == "Linear"][:-1]      # the last one is the output
        if hidden:
            narrow = min(hidden, key=lambda l: l.attrs.get("out_features") or 0)
            k = narrow.attrs.get("out_features") or 0
            widen = widen_plan(model.leaves, narrow, model.type, max(WIDEN_MIN, WIDEN_FACTOR * k),
                               shown_as=f"{model.var}.{narrow.name} ({narrow.type})")
            if widen is not None:
                f.plan_data["widen"] = widen
    return [f]


def plan(finding):
    """The overfit-one-batch probe (shared with data.misaligned: one re-run answers both);
    where the tool owns the model, also the same training with the narrowest layer widened."""
    exps = [Experiment([SameBatch(finding.plan_data["model_type"])])]
    if finding.plan_data.get("widen") is not None:
        exps.append(Experiment([finding.plan_data["widen"]]))
    return exps


def probe(finding, baseline, results):
    """(the probe's run, whether it fitted its one batch) after recording the re-runs."""
    record_tests(finding, baseline, results)
    run = results[0][1]
    return run, probe_fits(run, finding.evidence["irreducible_loss"])


def conclude(finding, baseline, results):
    run, fit = probe(finding, baseline, results)
    wide = results[1][1] if len(results) > 1 else None
    gain = improvement(baseline.end, wide.end) if wide is not None and wide.ok and baseline.ok else 0.0
    if gain >= CONFIRM_FACTOR:
        label = results[1][0].label
        finding.severity, finding.confidence = "error", "confirmed"
        finding.message = (f"The model is too small for the task: with {label} the same training reaches "
                           f"{fmt(wide.end)} instead of {fmt(baseline.end)}"
                           + (f", and on one batch, repeated, the original only went from "
                              f"{curves.head(run.loss):.3g} to {curves.tail(run.loss):.3g}." if fit is False else "."))
        finding.verified = {"method": "counterfactual", "metric": f"loss after {wide.steps} steps",
                            "before": baseline.end, "after": wide.end, "change": label}
        finding.fix = {"summary": "Make the model wider or deeper.", "code": FIXED.strip()}
    elif fit is False:
        finding.severity, finding.confidence = "error", "confirmed"
        finding.message = (f"The model cannot fit even one batch: trained on a single batch again and again, "
                           f"its loss only went from {curves.head(run.loss):.3g} to {curves.tail(run.loss):.3g}.")
        finding.verified = {"method": "counterfactual", "metric": f"one-batch loss after {run.steps} steps",
                            "before": curves.head(run.loss), "after": curves.tail(run.loss),
                            "change": results[0][0].label}
        finding.fix = {"summary": "Make the model wider or deeper.", "code": FIXED.strip()}
    elif fit:
        finding.confidence = "refuted"
        finding.message = "The model fits one batch easily, so its size is not what stops it. " + finding.message


def defer_to_confirmed(finding, findings, ignore: tuple[str, ...] = ()) -> None:
    """Another cause, confirmed by its own re-run, explains a run that does not learn:
    this probe-based finding steps back (shared with data.misaligned)."""
    if finding.confidence == "confirmed" and any(
            f is not finding and f.confidence == "confirmed" and (f.verified or {}).get("method") == "counterfactual"
            and f.category not in ignore and f.severity in ("error", "warning") for f in findings):
        finding.severity, finding.confidence = "info", "refuted"
        finding.message = "Explained by a confirmed finding above. " + finding.message


def reconcile(finding, findings):
    defer_to_confirmed(finding, findings)
