"""The one table of checks: code -> check module. Codes are never reused.

Letters by family: C capacity, A activation, O optimizer.
A retired check keeps its code here, commented out, so no new check takes it.
"""
from __future__ import annotations

from types import ModuleType

from .activation import output_range
from .capacity import bottleneck
from .optim import lr_too_high, lr_too_low

# Run order: the checks that prove a loss floor run before the ones that read
# the loss level (lr_too_low looks at the floors found before it).
CHECKS: list[ModuleType] = [
    bottleneck,      # C001 capacity.bottleneck
    output_range,    # A001 activation.output_range
    lr_too_high,     # O001 optim.lr_too_high
    lr_too_low,      # O002 optim.lr_too_low
]

BY_CODE: dict[str, ModuleType] = {c.CODE: c for c in CHECKS}


def get(code_or_category: str) -> ModuleType | None:
    key = code_or_category.strip()
    return BY_CODE.get(key.upper()) or next((c for c in CHECKS if c.CATEGORY == key), None)
