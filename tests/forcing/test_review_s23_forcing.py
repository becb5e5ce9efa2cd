"""Review rev23 (forcing): single-step files with CF time bounds, numeric (undecoded) time axes."""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

import hydro.forcing as hf
from hydro.errors import InputDataError

X = 500_000.0 + 5_000.0 + 10_000.0 * np.arange(4)
Y = 9_870_000.0 - 5_000.0 - 10_000.0 * np.arange(3)


def _target():
    return xr.DataArray(np.ones((3, 4), np.float32), dims=("y", "x"), coords={"y": Y, "x": X}).rio.write_crs("EPSG:32750")


def _one_day_file(path, value, units):
    """One daily value labelled at the START of 2024-01-01, with time_bnds [01-01 00:00, 01-02 00:00]."""
    t = pd.DatetimeIndex(["2024-01-01"])
    ds = xr.Dataset({"pr": (("time", "y", "x"), np.full((1, 3, 4), value))},
                    coords={"time": t, "y": Y, "x": X}).rio.write_crs("EPSG:32750")
    ds.pr.attrs["units"] = units
    ds["time_bnds"] = (("time", "nv"), np.array([[t[0], t[0] + pd.Timedelta("1D")]], "datetime64[ns]"))
    ds.time.attrs["bounds"] = "time_bnds"
    ds.time.encoding["units"] = "hours since 2024-01-01"
    ds.to_netcdf(path)
    return path


@pytest.mark.parametrize("units", ["mm", "mm/day"])
def test_single_step_file_takes_its_step_from_the_time_bounds(tmp_path, units):
    # 24 mm over the day 2024-01-01 (24 mm, or 24 mm/day × 1 day); hourly model: 24 steps of 24/24 = 1 mm each,
    # ending 01:00 … 24:00 of 1 January
    da = hf.open_forcing(_one_day_file(tmp_path / "day.nc", 24.0, units), "pr")
    out = hf.prepare(da, _target(), "1h").compute()
    assert pd.DatetimeIndex(out.time.values).equals(pd.date_range("2024-01-01 01:00", periods=24, freq="1h"))
    np.testing.assert_allclose(out.values, 1.0, rtol=1e-12)
    np.testing.assert_allclose(out.values.sum(axis=0), 24.0, rtol=1e-12)


@pytest.mark.parametrize("units", ["mm", "mm/day"])
def test_source_step_contradicting_the_time_bounds_is_an_error(tmp_path, units):
    # the bounds say one day; source_step="1h" read 24 mm/day as 24/24 = 1 mm (23 mm lost) or put the whole day's
    # 24 mm into the one hour ending at 2024-01-02 00:00
    da = hf.open_forcing(_one_day_file(tmp_path / "day.nc", 24.0, units), "pr")
    with pytest.raises(InputDataError, match="time bounds"):
        hf.prepare(da, _target(), "1h", source_step="1h")


@pytest.mark.parametrize("dtype,values,units", [("i4", np.arange(1, 7), "hours"), ("f8", np.arange(1.0, 7.0), "hours"),
                                                ("i4", np.arange(1, 7), None)])
def test_time_without_cf_reference_is_refused_when_opened(tmp_path, dtype, values, units):
    # "hours" without "since <date>" (or no units) is not decoded by xarray: the numbers 1 … 6 were read as
    # 1970-01-01 00:00:00.000000001 … (nanoseconds) and reported later as "duplicate times" or "no complete model step"
    p = tmp_path / "nounits.nc"
    with netCDF4.Dataset(p, "w") as nc:
        nc.createDimension("time", 6)
        nc.createDimension("y", 3)
        nc.createDimension("x", 4)
        nc.createVariable("time", dtype, ("time",))[:] = values
        if units:
            nc["time"].units = units
        nc.createVariable("x", "f8", ("x",))[:] = X
        nc.createVariable("y", "f8", ("y",))[:] = Y
        v = nc.createVariable("pr", "f4", ("time", "y", "x"))
        v.units = "mm"
        v[:] = 1.0
    with pytest.raises(InputDataError, match="not date-times"):
        hf.open_forcing(p, "pr")


def test_numeric_time_axis_is_not_nanoseconds():
    with pytest.raises(InputDataError, match="not date-times"):
        hf.check_time_axis(np.array([0, 3600, 7200]), "rain")
