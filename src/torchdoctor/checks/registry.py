"""The one table of checks: code -> check module. Codes are never reused.

Letters by family: C capacity, A activation, L loss, O optimizer, G graph,
V gradients, N numerics, D data, I initialisation, M mode, R regularisation. A retired check keeps its
line here, commented out, so no new check takes its code.
"""
from __future__ import annotations

from types import ModuleType

from .activation import dead_relu, output_range, saturation
from .capacity import bottleneck, no_nonlinearity, too_small
from .data import class_imbalance, misaligned, nonfinite as data_nonfinite, same_batch, unnormalized
from .grad import exploding, vanishing
from .graph import detached, frozen
from .init import symmetric
from .loss import double_softmax, logits_mismatch, target_shape, wrong_kind
from .mode import eval_mode
from .numeric import nonfinite
from .regularization import dropout
from .optim import lr_too_high, lr_too_low, missing_zero_grad, no_step, params_missing, weight_decay

# Run order matters in one way: checks that prove a loss floor (capacity,
# activation, loss) run before the ones that read the loss level (lr_too_low
# looks at the floors found before it, and never runs after lr_too_high).
CHECKS: list[ModuleType] = [
    bottleneck,          # C001 capacity.bottleneck
    no_nonlinearity,     # C002 capacity.no_nonlinearity
    output_range,        # A001 activation.output_range
    double_softmax,      # L001 loss.double_softmax
    logits_mismatch,     # L002 loss.logits_mismatch
    target_shape,        # L003 loss.target_shape
    wrong_kind,          # L004 loss.wrong_kind
    data_nonfinite,      # D003 data.nonfinite
    unnormalized,        # D001 data.unnormalized
    class_imbalance,     # D002 data.class_imbalance
    same_batch,          # D005 data.same_batch
    eval_mode,           # M001 mode.eval
    symmetric,           # I001 init.symmetric
    no_step,             # O006 optim.no_step
    missing_zero_grad,   # O003 optim.missing_zero_grad
    params_missing,      # O004 optim.params_missing
    detached,            # G001 graph.detached
    frozen,              # G002 graph.frozen
    weight_decay,        # O005 optim.weight_decay
    dropout,             # R001 regularization.dropout
    dead_relu,           # A003 activation.dead_relu
    saturation,          # A002 activation.saturation
    lr_too_high,         # O001 optim.lr_too_high
    lr_too_low,          # O002 optim.lr_too_low
    exploding,           # V001 grad.exploding
    vanishing,           # V002 grad.vanishing
    nonfinite,           # N001 numeric.nonfinite
    # last: they only suspect what nothing above explains
    too_small,           # C003 capacity.too_small
    misaligned,          # D004 data.misaligned
]

BY_CODE: dict[str, ModuleType] = {c.CODE: c for c in CHECKS}


def get(code_or_category: str) -> ModuleType | None:
    key = code_or_category.strip()
    return BY_CODE.get(key.upper()) or next((c for c in CHECKS if c.CATEGORY == key), None)
