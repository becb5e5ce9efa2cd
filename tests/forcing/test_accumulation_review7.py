"""Review 7: forecast accumulations (resets 06/18 UTC) sampled every 6 h are refused like hourly ones."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import deaccumulate, to_mm_per_step


def _era5_forecast_like(step, days=10, seed=1):
    st = pd.Timedelta(step)
    t = pd.date_range("2024-01-01 06:00", periods=int(pd.Timedelta(days=days) / st), freq=st) + st
    rain = np.random.default_rng(seed).gamma(0.7, 2.0, t.size)  # mm per step, every step wet
    acc, run = np.empty(t.size), 0.0
    for k, lab in enumerate(t):
        if (lab - st).hour in (6, 18):
            run = 0.0
        run += rain[k]
        acc[k] = run
    da = xr.DataArray(acc, dims="time", coords={"time": t}, name="tp",
                      attrs={"units": "mm", "GRIB_stepType": "accum"})
    return da, rain


@pytest.mark.parametrize("step", ["1h", "3h", "6h"])
def test_accumulations_are_refused_whatever_the_step(step):
    da, _ = _era5_forecast_like(step)
    # before: the 6-hourly series passed (106.4 mm read instead of 66.3 mm)
    with pytest.raises(InputDataError, match="reset_hours=\\(6, 18\\)"):
        to_mm_per_step(da)


def test_six_hourly_accumulations_deaccumulate_to_the_rain():
    da, rain = _era5_forecast_like("6h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = to_mm_per_step(deaccumulate(da, (6, 18)))
    np.testing.assert_allclose(out.values, rain, rtol=1e-12)


def test_six_hourly_rain_per_step_still_passes():
    t = pd.date_range("2024-01-01 06:00", periods=40, freq="6h")
    rain = np.random.default_rng(3).gamma(0.7, 2.0, t.size)
    da = xr.DataArray(rain, dims="time", coords={"time": t}, name="tp",
                      attrs={"units": "mm", "GRIB_stepType": "accum"})
    np.testing.assert_array_equal(to_mm_per_step(da).values, rain)
