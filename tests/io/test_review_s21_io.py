"""Review (NetCDF I/O): grids read back and written again, times as data with missing values, the forecast
reference time."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.io import from_array, open_netcdf, timeseries_dataset, write_netcdf

pytest.importorskip("compliance_checker")


def _grid(ny: int = 20, nx: int = 30, cell: float = 1000.0) -> xr.DataArray:
    z = np.arange(ny * nx, dtype=np.float32).reshape(ny, nx)
    return from_array(z, Affine(cell, 0, 500000, 0, -cell, 9870000), "EPSG:32750", name="hand")


def test_grid_read_with_decode_coords_all_can_be_written_again(tmp_path):
    # hydro.model.runner.open_terrain reads terrain files this way; writing a subset of it failed with
    # "'coordinates' found in both attrs and encoding"
    dem = _grid(4, 5, 30.0)
    p = write_netcdf(xr.Dataset({"hand": dem}), tmp_path / "terrain.nc")
    with open_netcdf(p, decode_coords="all") as ds:
        ds = ds.load()
    out = write_netcdf(ds[["hand"]], tmp_path / "again.nc")
    with xr.open_dataset(out) as back:
        np.testing.assert_array_equal(back["hand"].values, dem.values)
        assert back["hand"].encoding["coordinates"].split()[:2] == ["lat", "lon"]
        assert back["spatial_ref"].attrs["GeoTransform"].split() == ["500000.0", "30.0", "0.0", "9870000.0", "0.0", "-30.0"]


def test_sliced_grid_read_plainly_is_georeferenced_from_its_coordinates(tmp_path):
    # xr.open_dataset leaves spatial_ref a data variable (rio.crs None): the writer kept the original GeoTransform
    # and ACDD extent; the cut-out's corner is (510000, 9860000)
    p = write_netcdf(_grid().to_dataset(), tmp_path / "full.nc")
    with open_netcdf(p) as ds:
        cut = ds.load().isel(x=slice(10, 20), y=slice(10, 20))
    out = write_netcdf(cut, tmp_path / "cut.nc")
    with xr.open_dataset(out) as back:
        assert back["spatial_ref"].attrs["GeoTransform"].split() == [
            "510000.0", "1000.0", "0.0", "9860000.0", "0.0", "-1000.0"]
        assert back.attrs["geospatial_lat_max"] == pytest.approx(float(back["lat"].max()), abs=1e-9)
        assert back.attrs["geospatial_lon_min"] == pytest.approx(float(back["lon"].min()), abs=1e-9)
        np.testing.assert_array_equal(back["hand"].values, _grid().values[10:20, 10:20])


def test_coarsened_grid_read_plainly_has_the_coarse_bounds_and_resolution(tmp_path):
    # 1 km cells coarsened 2 x 2: the first cell spans x 500000 ... 502000 (coarsen averaged the old bounds to
    # 500500 ... 501500, and the old 1000 m resolution and GeoTransform were kept)
    p = write_netcdf(_grid().to_dataset(), tmp_path / "full.nc")
    with open_netcdf(p) as ds:
        co = ds.load().coarsen(x=2, y=2).mean()
    out = write_netcdf(co, tmp_path / "coarse.nc")
    with xr.open_dataset(out) as back:
        np.testing.assert_array_equal(back["x_bnds"].values[0], [500000.0, 502000.0])
        np.testing.assert_array_equal(back["y_bnds"].values[0], [9870000.0, 9868000.0])
        assert back["x_bnds"].attrs == {} and back["y_bnds"].attrs == {}
        assert back.attrs["geospatial_lon_resolution"] == "2000.0 m"
        assert back["spatial_ref"].attrs["GeoTransform"].split() == [
            "500000.0", "2000.0", "0.0", "9870000.0", "0.0", "-2000.0"]
        # 2 x 2 mean of 0, 1, 30, 31
        assert float(back["hand"].values[0, 0]) == 15.5


def test_missing_time_in_a_datetime_variable_is_a_fill_value(tmp_path):
    # NaT was written as the int64 minimum without a _FillValue: netCDF4/cftime read a time 2.5e16 years away
    # (num2date: OverflowError); only xarray recognised it
    import netCDF4

    t = pd.date_range("2025-08-25 01:00", periods=3, freq="h")
    peak = pd.to_datetime(["2025-08-25 02:00", "NaT"]).values
    ds = timeseries_dataset({"discharge": np.ones((2, 3))}, ids=["a", "b"], time=t, lat=[-1.1, -1.2],
                            lon=[116.9, 116.8], instance_variables={"time_of_peak": peak})
    p = write_netcdf(ds, tmp_path / "peaks.nc")
    with netCDF4.Dataset(p) as nc:
        v = nc["time_of_peak"]
        assert "_FillValue" in v.ncattrs()
        values = v[:]
        assert bool(np.ma.getmaskarray(values)[1]) and not bool(np.ma.getmaskarray(values)[0])
        first = netCDF4.num2date(values[0], v.units, v.calendar)
        assert (first.year, first.month, first.day, first.hour, first.minute) == (2025, 8, 25, 2, 0)
    with xr.open_dataset(p) as back:
        assert back["time_of_peak"].values[0] == np.datetime64("2025-08-25T02:00")
        assert np.isnat(back["time_of_peak"].values[1])


def test_forecast_reference_time_has_cf_attributes(tmp_path):
    from hydro.testing import assert_cf_compliant

    da = _grid(3, 4, 30.0)
    t = pd.date_range("2025-08-25 06:00", periods=2, freq="6h")
    ds = xr.concat([da, da], dim=xr.Variable("time", t)).to_dataset(name="max_flood_depth")
    ds = ds.assign_coords(forecast_reference_time=pd.Timestamp("2025-08-25 00:00"))
    p = write_netcdf(ds, tmp_path / "forecast.nc")
    with xr.open_dataset(p) as back:
        frt = back["forecast_reference_time"]
        assert frt.attrs["standard_name"] == "forecast_reference_time"
        assert frt.encoding["calendar"] == "standard"
        assert frt.values == np.datetime64("2025-08-25T00:00")
    assert_cf_compliant(p)


def test_write_netcdf_of_a_grid_without_rioxarray_imported_first(tmp_path):
    """``from hydro.io import write_netcdf`` in a fresh interpreter: a y/x grid was an AttributeError ('rio')
    unless the caller had imported rioxarray first (the accessor was never registered)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, xarray as xr\n"
            "from hydro.io import write_netcdf\n"
            "ds = xr.Dataset({'hand': (('y', 'x'), np.full((3, 3), 2.5, np.float32))})\n"
            f"p = write_netcdf(ds, {str(tmp_path / 'g.nc')!r})\n"
            "print(float(xr.open_dataset(p)['hand'].sum()))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(r.stdout.split()[-1]) == 22.5
