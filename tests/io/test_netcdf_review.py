"""Regressions of the NetCDF writer review: transform from coordinates, exact times, chunking, flag types,
one-step coverage, UTC, CF dimension order, kept provenance, attribute types, coordinate fills, allocation files."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

from hydro.errors import InputDataError, OutputError
from hydro.io import timeseries_dataset, write_netcdf
from hydro.testing import assert_cf_compliant, assert_georeferenced

pytest.importorskip("compliance_checker")
netCDF4 = pytest.importorskip("netCDF4")
from affine import Affine  # noqa: E402

CRS = "EPSG:32750"


def grid(ny=20, nx=30, res=100.0, x0=500_000.0, y0=9_870_000.0, name="hand", dtype=np.float32, time=None):
    """North-up grid with x/y cell-centre coordinates and a CRS (no stored transform)."""
    x = x0 + res * (np.arange(nx) + 0.5)
    y = y0 - res * (np.arange(ny) + 0.5)
    da = xr.DataArray(np.arange(ny * nx, dtype=float).reshape(ny, nx).astype(dtype), dims=("y", "x"),
                      coords={"y": y, "x": x}, name=name)
    if time is not None:
        da = da.expand_dims(time=time).copy()
    return da.rio.write_crs(CRS)


def _gdal(path, var):
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(f"netcdf:{path}:{var}") as src:
            return src.transform, src.read(1), src.index


# --- 1. transform ---------------------------------------------------------------------------
def test_stale_geotransform_after_coarsen_is_recomputed_from_coordinates(tmp_path):
    fine = grid()
    fine = fine.rio.write_transform(fine.rio.transform())
    coarse = fine.coarsen(x=2, y=2).mean()  # keeps the stale 100 m GeoTransform
    path = write_netcdf(coarse.to_dataset(), tmp_path / "coarse.nc")
    assert_cf_compliant(path)  # §7.1: coordinates inside their bounds
    with netCDF4.Dataset(path) as nc:
        assert [float(v) for v in nc["spatial_ref"].GeoTransform.split()] == [500000.0, 200.0, 0.0, 9870000.0, 0.0, -200.0]
        np.testing.assert_array_equal(nc["x_bnds"][0], [500000.0, 500200.0])
        assert nc.geospatial_lon_resolution == "200.0 m"
    tr, _, _ = _gdal(path, "hand")
    assert tuple(tr)[:6] == (200.0, 0.0, 500000.0, 0.0, -200.0, 9870000.0)


def test_stale_geotransform_after_sortby_is_recomputed(tmp_path):
    north_up = grid()
    south_up = north_up.rio.write_transform(north_up.rio.transform()).sortby("y")
    path = write_netcdf(south_up.to_dataset(), tmp_path / "south.nc")
    assert_cf_compliant(path)
    with netCDF4.Dataset(path) as nc:
        assert float(nc["spatial_ref"].GeoTransform.split()[5]) == 100.0
        np.testing.assert_array_equal(nc["y_bnds"][0], [9868000.0, 9868100.0])
    tr, a, index = _gdal(path, "hand")
    xq, yq = float(south_up.x[3]), float(south_up.y[0])
    r, c = index(xq, yq)
    assert a[r, c] == float(south_up.sel(x=xq, y=yq))


def test_one_row_grid_needs_an_explicit_transform(tmp_path):
    with pytest.raises(OutputError, match="y has 1 value"):
        write_netcdf(grid(ny=1, nx=5).to_dataset(), tmp_path / "one.nc")
    assert not (tmp_path / "one.nc").exists()
    da = grid(ny=1, nx=5).rio.write_transform(Affine(100, 0, 500000, 0, -100, 9870000))
    path = write_netcdf(da.to_dataset(), tmp_path / "one.nc")
    assert_cf_compliant(path)
    with netCDF4.Dataset(path) as nc:
        np.testing.assert_array_equal(nc["y_bnds"][:], [[9870000.0, 9869900.0]])


# --- 2. exact times -----------------------------------------------------------------------------
@pytest.mark.parametrize("freq, unit", [("10min", "minutes"), ("7s", "seconds"), ("h", "hours")])
def test_times_round_trip_exactly(tmp_path, freq, unit):
    t = pd.date_range("2026-01-10 00:00", periods=200, freq=freq)
    path = write_netcdf(grid(ny=4, nx=4, name="flood_depth", time=t).to_dataset(), tmp_path / "t.nc")
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back.time.values, t.values)
    with netCDF4.Dataset(path) as nc:
        assert nc["time"].units.startswith(unit + " since")
        assert nc["time"].dtype == (np.float64 if unit == "hours" else np.int64)


# --- 3. chunking of series ------------------------------------------------------------------------
def test_long_series_are_chunked_along_time(tmp_path):
    nst, nt = 30, 36500
    t = pd.date_range("1926-01-01", periods=nt, freq="D")
    ds = timeseries_dataset({"delivery": np.random.default_rng(0).random((nst, nt))}, ids=[f"d{i}" for i in range(nst)],
                            time=t, lat=[-1.2] * nst, lon=[116.9] * nst, instance_dim="demand",
                            time_bounds=list(zip(t - pd.Timedelta("1D"), t)))
    path = write_netcdf(ds, tmp_path / "long.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["delivery"].chunking() == [1, nt]
        assert nc["time_bnds"].chunking() == [nt, 2]


# --- 4. flag types ---------------------------------------------------------------------------------
def test_flag_values_and_valid_range_have_the_variable_type(tmp_path):
    mask = (grid(name="mask") % 2).astype(np.int8).rio.write_crs(CRS)
    mask.attrs.update(flag_values=[0, 1], flag_meanings="dry wet", long_name="wet mask", valid_range=[0, 1])
    path = write_netcdf(mask.to_dataset(), tmp_path / "mask.nc")
    assert_cf_compliant(path)
    with netCDF4.Dataset(path) as nc:
        assert nc["mask"].flag_values.dtype == np.int8 and nc["mask"].valid_range.dtype == np.int8


# --- 5. one step ----------------------------------------------------------------------------------
def test_single_step_with_bounds_states_its_resolution(tmp_path):
    t = pd.DatetimeIndex(["2026-01-10 06:00"])
    ds = timeseries_dataset({"discharge": np.ones((1, 1))}, ids=["a"], time=t, lat=[-1.2], lon=[116.9],
                            time_bounds=[(t[0] - pd.Timedelta("6h"), t[0])], attrs={"discharge": {"cell_methods": "time: mean"}})
    path = write_netcdf(ds, tmp_path / "one.nc")
    assert_cf_compliant(path)
    with netCDF4.Dataset(path) as nc:
        assert nc.time_coverage_resolution == "PT6H"


# --- 6. UTC ---------------------------------------------------------------------------------------
def test_tz_aware_grid_times_are_written_in_utc(tmp_path):
    tz = pd.date_range("2026-01-10 07:00", periods=3, freq="h", tz="Asia/Makassar")
    path = write_netcdf(grid(name="flood_depth", time=tz).to_dataset(), tmp_path / "tz.nc")
    assert_cf_compliant(path)
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back.time.values, tz.tz_convert("UTC").tz_localize(None).values)
        assert back.attrs["time_coverage_start"] == "2026-01-09T23:00:00Z"


# --- 7. dimension order ------------------------------------------------------------------------------
def test_dimensions_are_written_in_cf_order(tmp_path):
    da = grid()
    path = write_netcdf(da.transpose("x", "y").to_dataset(), tmp_path / "xy.nc")
    assert_cf_compliant(path)  # §2.4
    assert_georeferenced(path, "hand", da)
    with netCDF4.Dataset(path) as nc:
        assert nc["hand"].dimensions == ("y", "x")
    t = pd.date_range("2026-01-10 01:00", periods=2, freq="h")
    d2 = grid(name="flood_depth", time=t)
    path = write_netcdf(d2.transpose("y", "x", "time").to_dataset(), tmp_path / "timelast.nc")
    assert_cf_compliant(path)
    with netCDF4.Dataset(path) as nc:
        assert nc["flood_depth"].dimensions == ("time", "y", "x")
        np.testing.assert_array_equal(nc["flood_depth"][1], d2.isel(time=1).values)


# --- 8. provenance ---------------------------------------------------------------------------------
def test_source_and_version_of_the_dataset_are_kept(tmp_path):
    import hydro

    ds = timeseries_dataset({"discharge": np.ones((1, 2))}, ids=["a"], time=["2026-01-01T01", "2026-01-01T02"],
                            lat=[-1.2], lon=[116.9])
    ds.attrs.update(source="observed gauge data, BWS Kalimantan IV", hydro_version="0.0.9-producer")
    path = write_netcdf(ds, tmp_path / "src.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc.source == "observed gauge data, BWS Kalimantan IV"
        assert nc.hydro_version == "0.0.9-producer"
        assert f"written by hydro {hydro.__version__}" in nc.history
    del ds.attrs["source"], ds.attrs["hydro_version"]
    path = write_netcdf(ds, tmp_path / "own.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc.source == f"hydro {hydro.__version__}" and nc.hydro_version == hydro.__version__


# --- lower severity ----------------------------------------------------------------------------------
def test_bool_time_and_path_attributes_are_converted(tmp_path):
    attrs = {"hydro_warm_start": True, "flag": np.bool_(False), "forecast_reference_time": pd.Timestamp("2026-01-10"),
             "hydro_terrain": Path("/x/terrain.nc"), "pair": (1, "a")}
    path = write_netcdf(grid().to_dataset(), tmp_path / "attrs.nc", attrs=attrs)
    with netCDF4.Dataset(path) as nc:
        assert int(nc.hydro_warm_start) == 1 and int(nc.flag) == 0
        assert nc.forecast_reference_time == "2026-01-10T00:00:00Z"
        assert nc.hydro_terrain == "/x/terrain.nc"
        assert nc.pair == '[1, "a"]'


def test_a_missing_time_attribute_is_left_out(tmp_path):
    """NaT is no time: the attribute is left out like None (it was written as the string 'NaTZ')."""
    attrs = {"hydro_state_time": pd.NaT, "hydro_other_time": np.datetime64("NaT"), "hydro_kept": "yes"}
    path = write_netcdf(grid().to_dataset(), tmp_path / "nat.nc", attrs=attrs)
    with netCDF4.Dataset(path) as nc:
        assert "hydro_state_time" not in nc.ncattrs() and "hydro_other_time" not in nc.ncattrs()
        assert nc.hydro_kept == "yes"


def test_coordinates_carry_no_fill_value(tmp_path):
    scalar = grid(name="flood_depth").assign_coords(time=np.datetime64("2026-01-10T06:00", "ns"))
    path = write_netcdf(scalar.to_dataset(), tmp_path / "scalar.nc")
    ds = timeseries_dataset({"discharge": np.ones((2, 3))}, ids=["a", "b"], lat=[-1.2, -1.3], lon=[116.9, 117.0],
                            time=pd.date_range("2026-01-01 01:00", periods=3, freq="h"))
    dsg = write_netcdf(ds, tmp_path / "dsg.nc")
    with netCDF4.Dataset(path) as nc:
        assert "_FillValue" not in nc["time"].ncattrs()
    with netCDF4.Dataset(dsg) as nc:
        for name in ("lat", "lon", "time"):
            assert "_FillValue" not in nc[name].ncattrs(), name
        assert "_FillValue" in nc["discharge"].ncattrs()
    assert_cf_compliant(dsg)


def test_timeseries_dataset_without_instances_is_an_input_error():
    with pytest.raises(InputDataError, match="at least one"):
        timeseries_dataset({"delivery": np.zeros((0, 3))}, ids=[], lat=[], lon=[],
                           time=pd.date_range("2026-01-01", periods=3, freq="D"), instance_dim="demand")


def _net(nodes, links, steps=3):
    return {"network": {"name": "tiny", "start": "2024-01-01", "steps": steps, "timestep": "1D"},
            "regions": [{"id": "a"}], "nodes": nodes, "links": links, "agreements": []}


def _series(values):
    return {"values": list(values), "units": "m3/s"}


def test_allocation_files_of_an_earlier_run_are_not_left_stale(tmp_path):
    from hydro.allocation import allocate, load_network

    with_dam = _net([{"id": "dam", "type": "reservoir", "capacity": "1000 m3", "initial_storage": "500 m3",
                      "inflow": _series([0.001] * 3)},
                     {"id": "A", "type": "demand", "region": "a", "demand": "0.0001 m3/s"}],
                    [{"id": "l", "from": "dam", "to": "A"}])
    no_dam = _net([{"id": "river", "type": "intake", "inflow": _series([1.0] * 3)},
                   {"id": "A", "type": "demand", "region": "a", "demand": "0.5 m3/s"}],
                  [{"id": "l", "from": "river", "to": "A"}])
    allocate(load_network(with_dam)).write(tmp_path / "run")
    assert (tmp_path / "run_reservoir.nc").exists()
    written = allocate(load_network(no_dam)).write(tmp_path / "run")
    assert not (tmp_path / "run_reservoir.nc").exists()
    assert sorted(p.name for p in tmp_path.glob("*.nc")) == sorted(p.name for p in written if p.suffix == ".nc")


def test_allocation_network_without_demands_writes_the_other_files(tmp_path):
    from hydro.allocation import allocate, load_network

    net = _net([{"id": "river", "type": "intake", "inflow": _series([1.0] * 3)}, {"id": "sea", "type": "outlet"}],
               [{"id": "rs", "from": "river", "to": "sea"}])
    written = allocate(load_network(net)).write(tmp_path / "x")
    names = {p.name for p in written}
    assert "x_link.nc" in names and "x_demand.nc" not in names
    assert_cf_compliant(tmp_path / "x_link.nc")
