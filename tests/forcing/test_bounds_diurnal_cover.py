"""Forcing regressions: CF time bounds, the diurnal PET profile in local time, coverage on the domain only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import change_step, open_forcing, prepare

from .conftest import make_source, make_target


# ---- time bounds -------------------------------------------------------------------------------------------------
def _write_with_bounds(path, labels, lower, upper, values):
    x = 500_500.0 + 1000.0 * np.arange(2)
    y = 9_849_500.0 - 1000.0 * np.arange(2)
    ds = xr.Dataset({"pr": (("time", "y", "x"), values, {"units": "mm", "cell_methods": "time: sum"})},
                    coords={"time": labels, "y": y, "x": x})
    ds["time"].attrs["bounds"] = "time_bnds"
    ds["time"].encoding["units"] = "hours since 2026-01-01 00:00:00"
    ds["time_bnds"] = (("time", "nv"), np.stack([lower.values, upper.values], axis=1))
    ds["time_bnds"].encoding["units"] = "hours since 2026-01-01 00:00:00"
    ds.rio.write_crs("EPSG:32750").to_netcdf(path)
    return make_target(x, y)


def test_time_bounds_label_each_period_by_its_end(tmp_path):
    """Labels at the period START with time_bnds [00:00, 01:00]: 10 mm fell in the step ending 01:00."""
    start = pd.date_range("2026-01-01 00:00", periods=3, freq="1h")
    v = np.zeros((3, 2, 2))
    v[0] = 10.0
    tgt = _write_with_bounds(tmp_path / "f.nc", start, start, start + pd.Timedelta("1h"), v)
    da = open_forcing(tmp_path / "f.nc", "pr")
    assert list(pd.DatetimeIndex(da.time.values)) == list(start + pd.Timedelta("1h"))
    out = prepare(da, tgt, "1h").isel(y=0, x=0).to_series()
    assert out[pd.Timestamp("2026-01-01 01:00")] == 10.0
    assert out[pd.Timestamp("2026-01-01 02:00")] == 0.0 and out[pd.Timestamp("2026-01-01 03:00")] == 0.0
    # opened with xarray directly (the bounds stay in the file): prepare reads and honours them too
    with xr.open_dataset(tmp_path / "f.nc", decode_coords="all") as ds:
        got = prepare(ds["pr"].rio.write_crs("EPSG:32750"), tgt, "1h")
        assert pd.Timestamp(got.time.values[0]) == pd.Timestamp("2026-01-01 01:00") and float(got[0, 0, 0]) == 10.0


def test_period_end_labels_with_bounds_are_unchanged(tmp_path):
    end = pd.date_range("2026-01-01 01:00", periods=3, freq="1h")
    v = np.zeros((3, 2, 2))
    v[0] = 10.0
    _write_with_bounds(tmp_path / "f.nc", end, end - pd.Timedelta("1h"), end, v)
    da = open_forcing(tmp_path / "f.nc", "pr")
    assert list(pd.DatetimeIndex(da.time.values)) == list(end)


def test_bounds_that_are_not_one_step_long_are_an_error(tmp_path):
    start = pd.date_range("2026-01-01 00:00", periods=3, freq="1h")
    _write_with_bounds(tmp_path / "f.nc", start, start, start + pd.Timedelta("3h"), np.zeros((3, 2, 2)))
    with pytest.raises(InputDataError, match="not the time step"):
        open_forcing(tmp_path / "f.nc", "pr")


# ---- diurnal PET profile in local solar time --------------------------------------------------------------------
def _check_local_noon_profile(v: np.ndarray, hours: np.ndarray) -> None:
    """Local time = UTC + 8 h: the half-sine 06-18 h local peaks in the hours ending 12 and 13 local = 04, 05 UTC."""
    np.testing.assert_allclose(v.sum(), 4.0, rtol=1e-13)  # the daily total is exact
    top = set(hours[np.argsort(v)[-2:]])
    assert top == {4, 5}
    k4, k5 = int(np.flatnonzero(hours == 4)[0]), int(np.flatnonzero(hours == 5)[0])
    assert v[k4] == pytest.approx(v[k5], rel=1e-12)  # symmetric about local noon (04:00 UTC)
    night = (hours >= 11) & (hours <= 22)  # mid-hour local 18:30 ... 05:30
    assert np.all(v[night] == 0.0) and np.all(v[~night] > 0.0)


def test_diurnal_profile_with_an_explicit_utc_offset():
    t = pd.DatetimeIndex(["2026-01-02"])  # one day, period-end label (UTC)
    da = xr.DataArray([4.0], dims="time", coords={"time": t}, name="pet", attrs={"units": "mm"})
    h = change_step(da, "1h", source_step="1D", profile="diurnal", utc_offset=8)
    _check_local_noon_profile(h.values, pd.DatetimeIndex(h.time.values).hour.to_numpy())


def test_diurnal_profile_follows_the_grid_longitude():
    """A grid centred on 120 E: local solar time = UTC + 8 h exactly."""
    x = np.array([119.95, 120.05])
    y = np.array([-1.15, -1.25])
    src = make_source(np.full((2, 2, 2), 4.0), x, y, pd.date_range("2026-01-02", periods=2, freq="1D"),
                      units="mm/day", crs="EPSG:4326", name="pet")
    out = prepare(src, make_target(x, y, crs="EPSG:4326"), "1h", profile="diurnal",
                  vocabulary_name="potential_evaporation")
    v = out.values[:24, 0, 0]
    _check_local_noon_profile(v, pd.DatetimeIndex(out.time.values[:24]).hour.to_numpy())


def test_diurnal_profile_without_a_longitude_or_offset_is_an_error():
    da = xr.DataArray([4.0, 4.0], dims="time", coords={"time": pd.date_range("2026-01-02", periods=2, freq="1D")},
                      name="pet", attrs={"units": "mm"})
    with pytest.raises(InputDataError, match="local time"):
        change_step(da, "1h", profile="diurnal")


# ---- coverage over the domain only ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["conservative", "bilinear"])
def test_cells_outside_the_domain_need_no_forcing(method):
    """Target 4 x 4 of 1 km; the domain is the west half; the source (3 mm everywhere) covers only it."""
    xt = 500_500.0 + 1000.0 * np.arange(4)
    yt = 9_849_500.0 - 1000.0 * np.arange(4)
    mask = np.zeros((4, 4), bool)
    mask[:, :2] = True
    tgt = make_target(xt, yt, mask=mask)
    if method == "conservative":  # 1 km source cells exactly over the west half
        xs, ys = xt[:2], yt
    else:  # bilinear needs the target centres inside the source centres
        xs, ys = np.array([500_000.0, 502_000.0]), np.array([9_850_000.0, 9_846_000.0])
    src = make_source(np.full((2, ys.size, xs.size), 3.0), xs, ys, pd.date_range("2026-01-01 01:00", periods=2, freq="1h"))
    out = prepare(src, tgt, "1h", method=method).values
    np.testing.assert_allclose(out[:, mask], 3.0, rtol=1e-14)
    assert np.all(np.isnan(out[:, ~mask]))
    # a domain cell the source does not cover is still an error
    mask2 = mask.copy()
    mask2[0, 2] = True
    with pytest.raises(InputDataError, match="does not cover the domain"):
        prepare(src, make_target(xt, yt, mask=mask2), "1h", method=method)
