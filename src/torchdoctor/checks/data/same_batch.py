"""data.same_batch: the loop trains on the same batch again and again.

What it detects:
    A script that builds a DataLoader over more examples than one batch holds,
    yet feeds the model an identical input batch at (nearly) every step: the
    loader is iterated once (`next(iter(loader))`) and never again.

Why training fails:
    The batch loss falls, because the model memorises those few examples, but
    it never sees the rest of the data and learns nothing general.

Fix:
    Iterate the loader inside the training loop: `for x, y in loader:`.

Evidence:
    The share of sampled steps whose input batch equalled the previous one, and
    the size of the dataset behind the loader.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "D005"
CATEGORY = "data.same_batch"
TITLE = "The same batch every step"
PRIORITY = 14
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
x, y = next(iter(loader))          # once, outside the loop
for step in range(1000):
    loss = criterion(model(x), y)
"""
FIXED = """\
for epoch in range(epochs):
    for x, y in loader:
        loss = criterion(model(x), y)
"""

SAME_SHARE = 0.9       # nearly every sampled step: a shuffled loader repeats a batch by chance almost never
MIN_COMPARED = 10


def check(ctx: Context):
    trace = ctx.trace
    if trace.batches_compared < MIN_COMPARED or trace.same_batches < SAME_SHARE * trace.batches_compared:
        return []
    loaders = [l for l in trace.loaders if l["dataset"] and l["batch_size"] and l["dataset"] > l["batch_size"]]
    if not loaders:
        return []                      # full-batch training on a tensor is not this fault
    big = max(loaders, key=lambda l: l["dataset"])
    return [make_finding(
        __name__, severity="error", location="the training loop's data",
        message=(f"{trace.same_batches} of {trace.batches_compared} sampled steps fed the model the same input "
                 f"batch, although a DataLoader holds {big['dataset']} examples in batches of "
                 f"{big['batch_size']}: the loader is not iterated in the loop."),
        evidence={"same_batches": trace.same_batches, "compared": trace.batches_compared,
                  "dataset_size": big["dataset"], "batch_size": big["batch_size"]},
        fix={"summary": "Iterate the DataLoader inside the training loop.", "code": FIXED.strip()})]
