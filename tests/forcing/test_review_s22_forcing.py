"""Review (forcing): float CF time offsets, UTC offsets given as text, station dates with hour-only offsets,
source grids in a CRS whose unit is the kilometre."""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

import hydro.forcing as hf


def _make_target(x, y, crs="EPSG:32750"):
    v = np.ones((len(y), len(x)), np.float32)
    return xr.DataArray(v, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(crs)


def _write_float_time_file(path, offsets, units, bounds=None):
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", len(offsets))
        nc.createDimension("y", 2)
        nc.createDimension("x", 2)
        nc.createDimension("nv", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = units
        t[:] = offsets
        if bounds is not None:
            t.bounds = "time_bnds"
            b = nc.createVariable("time_bnds", "f8", ("time", "nv"))
            b[:] = bounds
        y = nc.createVariable("y", "f8", ("y",))
        y[:] = [9_865_000.0, 9_855_000.0]
        x = nc.createVariable("x", "f8", ("x",))
        x[:] = [505_000.0, 515_000.0]
        v = nc.createVariable("pr", "f4", ("time", "y", "x"))
        v.units = "mm"
        v[:] = np.ones((len(offsets), 2, 2))


@pytest.mark.parametrize("units, per_step", [("hours since 2024-01-01 00:00:00", 1.0 / 6.0),
                                             ("days since 2024-01-01 00:00:00", 1.0 / 144.0),
                                             ("days since 1970-01-01 00:00:00", 1.0 / 144.0)])
@pytest.mark.parametrize("with_bounds", [False, True])
def test_ten_minute_steps_stored_as_float_offsets_are_regular(tmp_path, units, per_step, with_bounds):
    # 10-minute radar rain, times stored as float "hours since"/"days since" (1/6 h, 1/144 d are not exact in
    # binary): the decoded times were a few ns off (00:09:59.999999999) and the regular series was refused as
    # "gap or irregular step"
    k = np.arange(1, 13)
    base = 19723.0 if units.startswith("days since 1970") else 0.0  # 19723 days after 1970-01-01 = 2024-01-01
    offsets = base + k * per_step
    bounds = np.column_stack([base + (k - 1) * per_step, offsets]) if with_bounds else None
    p = tmp_path / "radar.nc"
    _write_float_time_file(p, offsets, units, bounds)
    da = hf.open_forcing(p, "pr")
    expected = pd.date_range("2024-01-01 00:10", periods=12, freq="10min")
    assert pd.DatetimeIndex(da["time"].values).equals(expected)
    tgt = _make_target(np.array([505_000.0, 515_000.0]), np.array([9_865_000.0, 9_855_000.0])).rio.write_crs("EPSG:32750")
    out = hf.prepare(da, tgt, "1h", crs="EPSG:32750").values
    # 1 mm in each of the six 10-minute steps of each hour: 6 mm per hour, hours ending 01:00 and 02:00
    np.testing.assert_allclose(out, 6.0, rtol=0, atol=1e-12)
    assert out.shape == (2, 2, 2)


@pytest.mark.parametrize("offset", ["8", "+0800", "+08:00"])
def test_utc_offset_written_as_text_is_hours(offset):
    # hourly amounts 0, 1, ..., 71 (periods ending 2024-01-01 01:00 ... 2024-01-04 00:00); utc_offset=8 (WITA): days
    # end at local midnight = 16:00 UTC. "8" was read by pandas as 8 nanoseconds (UTC days, no error)
    t = pd.date_range("2024-01-01 01:00", periods=72, freq="1h")
    da = xr.DataArray(np.arange(72.0), dims="time", coords={"time": t}, name="pr", attrs={"units": "mm"})
    with pytest.warns(UserWarning, match="dropped"):
        out = hf.change_step(da, "1D", utc_offset=offset)
    # first local day: periods ending 2024-01-01 17:00 (value 16) ... 2024-01-02 16:00 (value 39):
    # sum 16..39 = (16 + 39) * 24 / 2 = 660; next: 40..63 = (40 + 63) * 12 = 1236
    assert pd.DatetimeIndex(out["time"].values).equals(pd.DatetimeIndex(["2024-01-02 16:00", "2024-01-03 16:00"]))
    np.testing.assert_allclose(out.values, [660.0, 1236.0])


def test_diurnal_pet_with_a_text_utc_offset_is_zero_at_local_night():
    # 24 mm of PET for the day ending 2024-01-02 00:00 UTC, split hourly with utc_offset "8": local time = UTC + 8 h,
    # the half-sine is zero outside 06-18 local, i.e. for hours whose middle is 10:30 ... 21:30 UTC (local 18:30 ...
    # 05:30): the hours ending 11:00 ... 22:00 UTC get 0. With "8" read as 8 ns the sine followed the UTC clock.
    d = xr.DataArray([24.0], dims="time", coords={"time": pd.DatetimeIndex(["2024-01-02 00:00"])}, name="pet",
                     attrs={"units": "mm"})
    out = hf.change_step(d, "1h", source_step="1D", profile="diurnal", utc_offset="8")
    s = pd.Series(out.values, index=pd.DatetimeIndex(out["time"].values))
    assert s.sum() == pytest.approx(24.0, abs=1e-12)
    night = s["2024-01-01 11:00":"2024-01-01 22:00"]
    assert night.size == 12 and np.all(night.values == 0.0)


@pytest.mark.parametrize("dates", [["2024-01-01 08:00+08", "2024-01-01 09:00+08", "2024-01-01 10:00+08"],
                                   ["2024-01-01 00:00 UTC", "2024-01-01 01:00 UTC", "2024-01-01 02:00 UTC"]])
def test_station_dates_with_an_hour_only_offset_or_utc_suffix_give_naive_utc(tmp_path, dates):
    # "+08" (ISO 8601 hour-only offset) and a " UTC" suffix were not seen as offsets: the time coordinate stayed
    # time-zone aware (datetime64[ns, UTC+08:00]), and change_step / to_netcdf / a naive sel then raised TypeError
    (tmp_path / "stations.csv").write_text("id,x,y\nA,116.85,-1.25\n")
    (tmp_path / "rain.csv").write_text("date,A\n" + "".join(f"{s},{i + 1}\n" for i, s in enumerate(dates)))
    tgt = _make_target(500_500.0 + 1000.0 * np.arange(3), 9_869_500.0 - 1000.0 * np.arange(2))
    out = hf.stations_to_grid(tmp_path / "rain.csv", tmp_path / "stations.csv", tgt)
    assert out["time"].dtype == np.dtype("datetime64[ns]")
    # 08:00+08 = 00:00 UTC
    assert pd.DatetimeIndex(out["time"].values).equals(pd.date_range("2024-01-01 00:00", periods=3, freq="1h"))
    np.testing.assert_allclose(out.values[:, 0, 0], [1.0, 2.0, 3.0])  # one station: every cell gets its value
    with pytest.warns(UserWarning, match="dropped 1 leading"):  # the period ending 00:00 starts a 2-h step at 23:00
        two = hf.change_step(out, "2h")  # step ending 02:00 UTC: periods ending 01:00 and 02:00 -> 2 + 3 = 5
    np.testing.assert_allclose(two.values[:, 0, 0], [5.0])


def test_source_in_a_kilometre_crs_with_km_coordinates():
    # a radar composite in a CRS whose unit is the km (+units=km, as RADOLAN/KNMI grids) with x/y in km: the
    # coordinates were multiplied by 1000 as if the CRS were in metres, and every domain cell was "not covered"
    crs_km = "+proj=utm +zone=50 +south +datum=WGS84 +units=km +no_defs"
    x = 505.0 + 10.0 * np.arange(4)  # km: cells 500-510, ..., 530-540 km
    y = 9865.0 - 10.0 * np.arange(3)  # km: cells 9870-9860, ..., 9850-9840 km
    v = np.arange(12.0).reshape(1, 3, 4) + 1.0  # 1 ... 12 mm
    t = pd.DatetimeIndex(["2024-01-01 01:00"])
    src = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": t, "y": y, "x": x}, name="pr",
                       attrs={"units": "mm"}).rio.write_crs(crs_km)
    src["x"].attrs["units"] = "km"
    src["y"].attrs["units"] = "km"
    # target: 5-km cells in the same UTM zone in metres, 500-520 km east, 9870-9860 km north
    tgt = _make_target(502_500.0 + 5000.0 * np.arange(4), np.array([9_867_500.0, 9_862_500.0]))
    out = hf.prepare(src, tgt, "1h", source_step="1h").values[0]
    # the first two target columns lie in source column 0 (value 1), the next two in column 1 (value 2);
    # both target rows lie in source row 0
    np.testing.assert_allclose(out, [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]], rtol=1e-6)
