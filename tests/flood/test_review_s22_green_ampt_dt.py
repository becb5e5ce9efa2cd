"""effective_rainfall with a Green-Ampt operator whose step is not the rainfall interval (session 22).

Its infiltration capacity per step is K dt: 10-min rain through an operator built for hourly steps infiltrated an
hour's capacity every 10 minutes, so the effective rain was about half of the true value, without a word. Now the
intervals must equal the operator's step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.flood import effective_rainfall
from hydro.runoff import GreenAmpt

LIKE = xr.DataArray(np.zeros((1, 2)), dims=("y", "x"), coords={"y": [0.0], "x": [0.0, 1.0]})


def _rain(freq="10min", n=6, rate=60.0):
    t = pd.date_range("2025-01-01T00:10", periods=n, freq=freq)
    return xr.DataArray(np.full(n, rate), dims="time", coords={"time": t}, attrs={"units": "mm h-1"})


def test_step_other_than_the_rain_interval_refused():
    ga = GreenAmpt(ks_mm_h=5.0, psi_mm=50.0, delta_theta=0.1, ncell=2, dt_seconds=3600.0)
    with pytest.raises(InputDataError, match=r"steps 3600 s but the rainfall intervals are \[600.0\] s"):
        effective_rainfall(_rain(), ga, like=LIKE)


def test_matching_step_keeps_water_accounted():
    # 10 mm per 10-min interval; before ponding all of it infiltrates, afterwards effective = rain - infiltration:
    # rain + nothing created: 0 <= effective <= rain every interval, and the first interval with ponding has
    # effective < 10 mm (K = 5 mm/h cannot take 60 mm/h for long: F_p = K psi dtheta / (i - K) = 0.4545 mm)
    ga = GreenAmpt(ks_mm_h=5.0, psi_mm=50.0, delta_theta=0.1, ncell=2, dt_seconds=600.0)
    eff = effective_rainfall(_rain(), ga, like=LIKE).values
    assert np.all(eff >= 0.0) and np.all(eff <= 10.0 + 1e-12)
    assert np.all(eff[:, 0, 0] == eff[:, 0, 1])
    # infiltrated over the hour = 60 mm - effective, at least K x 1 h = 5 mm (capacity >= K) and at most 60 mm
    infiltrated = 60.0 - eff[:, 0, 0].sum()
    assert 5.0 <= infiltrated < 60.0
