"""data.nonfinite: NaN or Inf in the inputs or the targets.

What it detects:
    Batches whose model inputs or loss targets contain NaN or Inf values.

Why training fails:
    A single NaN in a batch makes the loss NaN, its gradient NaN, and after
    one step every weight NaN: the model never recovers, whatever the learning
    rate.

Fix:
    Clean the data: drop or impute missing values (torch.nan_to_num, a mask),
    and check the preprocessing that produced them (division by a zero std,
    log of zero).

Evidence:
    How many sampled batches had non-finite inputs or targets.
"""
from __future__ import annotations

from ..base import Context, make_finding

CODE = "D003"
CATEGORY = "data.nonfinite"
TITLE = "NaN or Inf in the data"
PRIORITY = 3
CONFIRMATION = "evidence"   # re-run | analytic | evidence
EXAMPLE = """\
x = torch.tensor(df.values)      # NaN where the CSV had gaps
loss = criterion(model(x), y)
"""
FIXED = """\
x = torch.nan_to_num(torch.tensor(df.values))   # or drop incomplete rows
"""


def check(ctx: Context):
    trace, loss = ctx.trace, ctx.trace.loss_info
    bad_in = trace.input_nonfinite
    bad_t = loss.target_nonfinite if loss is not None else 0
    if not bad_in and not bad_t:
        return []
    parts = ([f"{bad_in} sampled input batches"] if bad_in else []) + \
            ([f"{bad_t} sampled target batches"] if bad_t else [])
    return [make_finding(
        __name__, severity="error", location="the inputs" if bad_in else "the targets",
        message=f"The data holds NaN or Inf: {' and '.join(parts)} had non-finite values.",
        evidence={"input_batches_nonfinite": bad_in, "target_batches_nonfinite": bad_t},
        fix={"summary": "Drop or impute the missing values before training.",
             "code": "x = torch.nan_to_num(x, nan=0.0)  # or drop the rows: x[torch.isfinite(x).all(1)]"})]
