"""Robust statistics of a loss curve (a Series), shared by checks and experiments.

Per-step losses of mini-batch training are noisy, so every comparison uses
medians over windows, never a single value. Non-finite losses count as +inf.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .trace import Series

# The tail is the last TAIL_SHARE of the steps (at least TAIL_MIN steps): long
# enough that its median ignores single noisy batches, short enough to be "the end".
TAIL_SHARE = 0.10
TAIL_MIN = 10
# The head is the first 1% of the steps, 5 to 20 of them: "where it started",
# before a fast optimizer has already done most of the work.
HEAD_SHARE = 0.01
HEAD_MIN, HEAD_MAX = 5, 20


def median(values: list[float]) -> float:
    if not values:
        return math.nan
    v = sorted(x if math.isfinite(x) else math.inf for x in values)
    mid = len(v) // 2
    if len(v) % 2:
        return v[mid]
    a, b = v[mid - 1], v[mid]
    return a if a == b else (a + b) / 2


def tail_window(count: int) -> int:
    return max(TAIL_MIN, int(count * TAIL_SHARE))


def tail(series: Series) -> float:
    """Median of the last 10% of the steps: "the loss at the end"."""
    vals = series.tail_values()
    return median(vals[-tail_window(series.count):])


def head(series: Series) -> float:
    """Median of the first 1% of the steps (5 to 20): "the loss at the start"."""
    n = min(HEAD_MAX, max(HEAD_MIN, int(series.count * HEAD_SHARE)))
    return median(series.head[:n])


def before_tail(series: Series) -> float:
    """Median of the window just before the tail, as long as the tail (for "still falling")."""
    w = tail_window(series.count)
    vals = series.tail_values()
    if len(vals) >= 2 * w:
        return median(vals[-2 * w:-w])
    hist = [v for s, v in series.history if series.count - 2 * w <= s < series.count - w]
    return median(hist)


def best_window(series: Series) -> float:
    """The lowest median over sliding windows of the whole (decimated) curve."""
    pts = [v for _, v in series.history]
    w = max(5, len(pts) // 20)
    best = math.inf
    for i in range(0, max(1, len(pts) - w + 1), max(1, w // 2)):
        best = min(best, median(pts[i:i + w]))
    return best


@dataclass
class CurveSummary:
    steps: int
    start: float            # head median
    end: float              # tail median
    before_end: float       # median of the window before the tail
    best: float             # lowest windowed median anywhere
    nonfinite_at: int | None

    @property
    def falling(self) -> float:
        """Relative drop over the last window: (before_end - end) / before_end."""
        if not (math.isfinite(self.before_end) and math.isfinite(self.end)) or self.before_end <= 0:
            return 0.0
        return (self.before_end - self.end) / self.before_end


def summarize(series: Series) -> CurveSummary:
    return CurveSummary(steps=series.count, start=head(series), end=tail(series),
                        before_end=before_tail(series), best=best_window(series),
                        nonfinite_at=series.first_nonfinite)
