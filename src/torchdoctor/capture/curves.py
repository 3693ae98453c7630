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


# "Still falling" compares the end with a window this share of the run earlier:
# adjacent windows are too close for a slow, noisy descent to show above the noise.
FALLING_SPAN = 0.30


def earlier(series: Series, span: float = FALLING_SPAN) -> float:
    """Median of a tail-sized window ending `span` of the run before the end."""
    n, w = series.count, tail_window(series.count)
    back = int(n * span)
    pts = [v for s, v in series.history if n - back - w <= s < n - back]
    return median(pts)


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
    earlier: float          # median of a tail-sized window 30% of the run before the end
    best: float             # lowest windowed median anywhere
    nonfinite_at: int | None

    @property
    def falling(self) -> float:
        """Relative drop over the last 30% of the run: (earlier - end) / earlier."""
        if not (math.isfinite(self.earlier) and math.isfinite(self.end)) or self.earlier <= 0:
            return 0.0
        return (self.earlier - self.end) / self.earlier


def summarize(series: Series) -> CurveSummary:
    start = head(series)
    return CurveSummary(steps=series.count, start=start, end=tail(series),
                        earlier=earlier(series), best=min(start, best_window(series)),
                        nonfinite_at=series.first_nonfinite)
