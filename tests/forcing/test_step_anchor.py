"""Aggregation to the model step follows the run's own labels when the run start is known."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hydro.forcing import change_step, prepare
from tests.forcing.conftest import make_source, make_target

X = 500000 + np.arange(4) * 1000.0 + 500
Y = 9860000 - np.arange(3) * 1000.0 - 500


def _hourly(start="2025-01-01T17:00", days=5):
    t = pd.date_range(start, periods=24 * days, freq="1h")  # period-end labels
    vals = np.broadcast_to(np.arange(t.size, dtype=float)[:, None, None], (t.size, 3, 4)).copy()  # hour index
    return make_source(vals, X, Y, t, units="mm/h"), t


def test_daily_model_starting_at_local_midnight_sums_local_days():
    """Balikpapan (UTC+8): a daily model whose labels are 16:00 UTC sums 16:00→16:00 UTC, exactly."""
    da, t = _hourly()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the run's days are all complete: nothing dropped, no warning
        out = prepare(da, make_target(X, Y), "1D", start="2025-01-02T16:00", end="2025-01-05T16:00")
    labels = pd.DatetimeIndex(out["time"].values)
    assert list(labels) == list(pd.date_range("2025-01-02T16:00", periods=4, freq="1D"))
    # the day ending 2025-01-02 16:00 holds the hours 16-17 … 15-16 UTC, i.e. the first 24 source values 0 … 23
    hours = np.arange(t.size, dtype=float)
    expected = [hours[(t > lab - pd.Timedelta("1D")) & (t <= lab)].sum() for lab in labels]
    np.testing.assert_allclose(out.values[:, 1, 2], expected, rtol=1e-12)
    assert out.values[0, 0, 0] == pytest.approx(sum(range(0, 24)))


def test_without_a_start_days_end_at_utc_midnight_and_partial_days_are_dropped():
    da, _ = _hourly()
    with pytest.warns(UserWarning, match="dropped 8 leading"):
        out = change_step(da, "1D", source_step="1h")
    # 2025-01-02 00:00 UTC would lack 01:00-16:00 of 1 January: the first complete UTC day ends 2025-01-03
    assert pd.Timestamp(out["time"].values[0]) == pd.Timestamp("2025-01-03T00:00")
    assert out.values[0, 0, 0] == pytest.approx(sum(range(8, 32)))


def test_anchor_that_splits_a_source_period_is_refused():
    from hydro.errors import InputDataError

    t = pd.date_range("2025-01-01T03:00", periods=16, freq="3h")
    da = make_source(np.ones((16, 3, 4)), X, Y, t, units="mm")
    with pytest.raises(InputDataError, match="straddle"):
        change_step(da, "1D", source_step="3h", anchor="2025-01-02T16:00")
