"""A point-value inflow series finer than the model step keeps its volume (fix_2)."""
import numpy as np
import pandas as pd

from hydro.routing import series_step_values


def test_series_finer_than_the_step_keeps_its_volume():
    t = pd.date_range("2026-01-01 00:00", "2026-01-01 06:00", freq="10min")
    q = np.full(len(t), 2.0)
    q[4:7] = [26.0, 50.0, 26.0]  # a flood pulse 00:40-01:00, peak at 00:50: between two step midpoints
    series = pd.Series(q, index=t)
    starts = pd.date_range("2026-01-01 00:00", periods=6, freq="1h")
    got = series_step_values(series, starts, pd.Timedelta("1h"), what="inflow")
    x = (t.asi8 - t.asi8[0]) / 1e9
    exact = [np.trapezoid(q[6 * h:6 * h + 7], x[6 * h:6 * h + 7]) / 3600.0 for h in range(6)]
    np.testing.assert_allclose(got, exact, rtol=1e-12)  # 16, 4, 2, 2, 2, 2 m3 s-1
    np.testing.assert_allclose(got.sum() * 3600.0, np.trapezoid(q, x), rtol=1e-12)
    # a series coarser than the step: still the midpoint value of its linear interpolation
    coarse = pd.Series([0.0, 6.0], index=pd.DatetimeIndex(["2026-01-01 00:00", "2026-01-01 06:00"]))
    np.testing.assert_allclose(series_step_values(coarse, starts, pd.Timedelta("1h"), what="inflow"),
                               np.arange(6) + 0.5, rtol=1e-12)
