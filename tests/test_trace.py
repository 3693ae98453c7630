import torch

from torchdoctor.capture import curves
from torchdoctor.capture.trace import MAX_POINTS, TAIL_POINTS, RowReservoir, Series


def test_series_stays_bounded_and_keeps_the_tail_exact():
    s = Series()
    for i in range(50_000):
        s.append(float(i))
    assert s.count == 50_000
    assert len(s.history) <= MAX_POINTS
    assert s.tail_values() == [float(i) for i in range(50_000 - TAIL_POINTS, 50_000)]
    assert s.head[:3] == [0.0, 1.0, 2.0]
    assert s.history[0] == (0, 0.0)


def test_series_records_the_first_nonfinite_step():
    s = Series()
    for v in [1.0, 0.5, float("nan"), 0.3]:
        s.append(v)
    assert s.first_nonfinite == 2 and s.nonfinite == 1
    assert Series.from_dict(s.to_dict()).first_nonfinite == 2


def test_reservoir_is_bounded_uniform_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    r = RowReservoir(max_rows=500)
    for i in range(100):
        r.add(torch.full((50, 3), float(i)))          # batch i: rows valued i
    assert torch.equal(torch.random.get_rng_state(), state)
    sample = r.sample()
    assert sample.shape == (500, 3)
    # uniform over all 5000 rows: the mean batch index is near 49.5, not skewed to the first batches
    assert 40 < sample[:, 0].mean().item() < 60


def test_tail_median_ignores_a_single_spike_and_counts_nan_as_inf():
    s = Series()
    for i in range(100):
        s.append(1.0 if i != 95 else 1e9)
    assert curves.tail(s) == 1.0
    t = Series()
    for i in range(100):
        t.append(float("nan") if i >= 50 else 1.0)
    assert curves.tail(t) == float("inf")
