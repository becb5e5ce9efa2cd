"""Review of the NetCDF writer, DSG builder and CF gate: fill values of class maps, station files without a
position, the checker's own exceptions, time axes and spatial dimensions the writer cannot georeference."""
from __future__ import annotations

import warnings

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError, OutputError
from hydro.io import open_netcdf, timeseries_dataset, write_netcdf
from hydro.io.raster import from_array

pytest.importorskip("compliance_checker")

TR = Affine(30.0, 0.0, 468000.0, 0.0, -30.0, 9878000.0)


def _grid(values, name="hand", transform=TR, crs="EPSG:32750"):
    return from_array(np.asarray(values), transform, crs, name=name)


def _gdal_read(path, variable):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(f"netcdf:{path}:{variable}") as src:
            return src.nodata, src.read(1, masked=True), src.transform


# --- 1. no-data cells of integer class maps --------------------------------------------------------------------

def test_hazard_class_no_data_cells_are_masked_in_the_flood_max_file(tmp_path):
    """hazard_class -1 (no data: NaN depth, e.g. the sea) was written without _FillValue: xarray, rioxarray and
    GDAL read the no-data cells as a class -1."""
    from hydro.flood.hazard import HAZARD_CLASS_ATTRS
    from hydro.flood.products import write_flood_netcdf

    cls = np.array([[-1, 0, 1, 2], [3, 4, -1, 1], [0, 0, 1, -1]], np.int8)
    depth = _grid(np.ones((3, 4), np.float32), "flood_depth")
    ds = xr.Dataset({"flood_depth": depth.expand_dims(time=pd.date_range("2025-08-25 01:00", periods=2, freq="h"))})
    ds["hazard_class"] = (("y", "x"), cls, dict(HAZARD_CLASS_ATTRS))
    ds.attrs["hydro_flood_start"] = "2025-08-25T00:00:00"
    ds = ds.rio.write_crs("EPSG:32750").rio.write_transform(TR)
    paths = write_flood_netcdf(ds, tmp_path / "plain_flood.nc")
    path = [p for p in paths if p.name == "plain_flood_max.nc"][0]
    with xr.open_dataset(path) as back:
        got = back["hazard_class"].isel(time=0).values
    np.testing.assert_array_equal(np.isnan(got), cls == -1)
    np.testing.assert_array_equal(got[cls >= 0], cls[cls >= 0])
    nodata, arr, _ = _gdal_read(path, "hazard_class")
    assert nodata == -1
    np.testing.assert_array_equal(np.ma.getmaskarray(arr), cls == -1)


def test_integer_variable_outside_the_vocabulary_keeps_its_fill_value(tmp_path):
    """The docstring says variables outside the vocabulary keep their encoding; their _FillValue was dropped."""
    ds = _grid(np.zeros((3, 4), np.float32)).to_dataset()
    ds["landuse"] = (("y", "x"), np.array([[1, 2, -1, 3]] * 3, np.int16), {"long_name": "land use class", "units": "1"})
    ds["landuse"].encoding["_FillValue"] = np.int16(-1)
    ds["soil_class"] = (("y", "x"), np.array([[9, 2, 2, 3]] * 3, np.uint8),
                        {"long_name": "soil class", "units": "1", "_FillValue": np.uint8(9)})
    path = write_netcdf(ds, tmp_path / "classes.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc["landuse"].getncattr("_FillValue") == -1
        assert nc["landuse"].dtype == np.int16
        assert nc["soil_class"].getncattr("_FillValue") == 9
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["landuse"].values[0], [1, 2, np.nan, 3])
        np.testing.assert_array_equal(back["soil_class"].values[0], [np.nan, 2, 2, 3])


# --- 2. the CF gate reports checks that raised ------------------------------------------------------------------

def test_cf_gate_fails_when_a_check_raised_inside_the_checker(tmp_path):
    """compliance-checker reports a check that raised only on stderr; assert_cf_compliant passed such files."""
    from hydro.testing import assert_cf_compliant, cf_report

    t = pd.date_range("2026-01-01 01:00", periods=4, freq="h")
    ds = timeseries_dataset({"discharge": np.ones((1, 4))}, ids=["g1"], time=t, lat=[np.nan], lon=[np.nan])
    path = write_netcdf(ds, tmp_path / "g.nc")
    with netCDF4.Dataset(path, "a") as nc:
        # what the writer used to state for a station without a position: the ACDD checks raise on it
        for key in ("geospatial_lat_min", "geospatial_lat_max", "geospatial_lon_min", "geospatial_lon_max"):
            nc.setncattr(key, np.nan)
        nc.setncattr("geospatial_bounds", "POINT(nan nan)")
    report = cf_report(path)
    names = [item["name"] for item in report["acdd:1.3"]]
    assert "checker error check_lat_extents" in names and "checker error check_recommended" in names, names
    with pytest.raises(AssertionError, match="checker error"):
        assert_cf_compliant(path)


# --- 3. station files: positions ---------------------------------------------------------------------------------

def test_station_without_a_known_position_states_no_nan_extent(tmp_path):
    """The calibration file (no lat/lon in the config) had geospatial_lat_min = NaN and 'POINT(nan nan)'."""
    from hydro.testing import assert_cf_compliant

    t = pd.date_range("2026-01-02", periods=5, freq="D")
    ds = timeseries_dataset({"precipitation": np.ones((1, 5))}, ids=["catchment"], time=t, lat=[np.nan], lon=[np.nan],
                            time_bounds=list(zip(t - pd.Timedelta("1D"), t)))
    assert not any(k.startswith("geospatial") for k in ds.attrs)
    path = write_netcdf(ds, tmp_path / "calib.nc")
    with xr.open_dataset(path) as back:
        assert not any(k.startswith("geospatial") for k in back.attrs), back.attrs
    assert_cf_compliant(path)


def test_unknown_positions_are_left_out_of_the_extent(tmp_path):
    t = pd.date_range("2026-01-01 01:00", periods=3, freq="h")
    ds = timeseries_dataset({"discharge": np.ones((3, 3))}, ids=["a", "b", "c"], time=t,
                            lat=[-1.27, np.nan, -1.10], lon=[116.83, np.nan, 117.02])
    assert ds.attrs["geospatial_lat_min"] == -1.27 and ds.attrs["geospatial_lat_max"] == -1.10
    assert ds.attrs["geospatial_lon_min"] == 116.83 and ds.attrs["geospatial_lon_max"] == 117.02
    assert "nan" not in ds.attrs["geospatial_bounds"]
    path = write_netcdf(ds, tmp_path / "g.nc")
    with xr.open_dataset(path) as back:
        assert back.attrs["geospatial_lat_max"] == -1.10


def test_subset_of_a_station_file_states_its_own_extent(tmp_path):
    from hydro.testing import assert_cf_compliant

    t = pd.date_range("2026-01-01 01:00", periods=3, freq="h")
    ds = timeseries_dataset({"discharge": np.ones((3, 3))}, ids=["a", "b", "c"], time=t,
                            lat=[-1.27, -1.20, -0.50], lon=[116.83, 117.02, 118.00])
    path = write_netcdf(ds, tmp_path / "all.nc")
    with open_netcdf(path) as full:
        sub = full.isel(station=[0, 1]).load()
    out = write_netcdf(sub, tmp_path / "two.nc")
    with xr.open_dataset(out) as back:
        assert back.attrs["geospatial_lat_max"] == -1.20
        assert back.attrs["geospatial_lon_max"] == 117.02
    assert_cf_compliant(out)


def test_swapped_lat_lon_are_refused():
    t = pd.date_range("2026-01-01 01:00", periods=3, freq="h")
    with pytest.raises(InputDataError, match="swapped"):
        timeseries_dataset({"discharge": np.ones((1, 3))}, ids=["a"], time=t, lat=[116.83], lon=[-1.27])


# --- 4. time axes ------------------------------------------------------------------------------------------------

def test_station_times_in_different_zones_are_converted_to_utc():
    t = [pd.Timestamp("2025-08-25 01:00", tz="UTC"), pd.Timestamp("2025-08-25 10:00", tz="Asia/Makassar"),
         pd.Timestamp("2025-08-25 03:00", tz="UTC")]
    ds = timeseries_dataset({"discharge": np.ones((1, 3))}, ids=["a"], time=t, lat=[-1.2], lon=[116.8],
                            time_bounds=[(x - pd.Timedelta("1h"), x) for x in t])
    expected = pd.DatetimeIndex(["2025-08-25 01:00", "2025-08-25 02:00", "2025-08-25 03:00"])
    np.testing.assert_array_equal(ds["time"].values, expected.values)
    np.testing.assert_array_equal(ds["time_bnds"].values[:, 1], expected.values)


@pytest.mark.parametrize("times, message", [(["2025-08-25 01:00", "2025-08-25 01:00", "2025-08-25 03:00"], "repeated"),
                                            (["2025-08-25 01:00", "NaT", "2025-08-25 03:00"], r"missing values \(NaT\)")])
def test_station_times_repeated_or_missing_are_refused(times, message):
    with pytest.raises(InputDataError, match=message):
        timeseries_dataset({"discharge": np.ones((1, 3))}, ids=["a"], time=pd.DatetimeIndex(times),
                           lat=[-1.2], lon=[116.8])


@pytest.mark.parametrize("times, message", [(["2025-08-25 01:00", "NaT", "2025-08-25 03:00"], r"missing values \(NaT\)"),
                                            (["2025-08-25 01:00", "2025-08-25 01:00", "2025-08-25 03:00"], "repeated")])
def test_grid_time_with_missing_or_repeated_values_is_an_output_error(tmp_path, times, message):
    """A NaT or repeated time was written (CF: a coordinate must be strictly monotonic) with a garbage
    time_coverage_resolution (P-106751991167301D...)."""
    da = _grid(np.ones((3, 4), np.float32), "flood_depth").expand_dims(time=pd.DatetimeIndex(times))
    with pytest.raises(OutputError, match=message):
        write_netcdf(da.to_dataset(), tmp_path / "f.nc")
    assert not list(tmp_path.iterdir())


def test_decreasing_time_axis_states_a_positive_coverage(tmp_path):
    times = pd.date_range("2025-08-25 08:00", periods=3, freq="-1h")  # 08, 07, 06
    da = _grid(np.ones((3, 4), np.float32), "flood_depth").expand_dims(time=times)
    path = write_netcdf(da.to_dataset(), tmp_path / "f.nc")
    with xr.open_dataset(path) as back:
        assert back.attrs["time_coverage_start"] == "2025-08-25T06:00:00Z"
        assert back.attrs["time_coverage_end"] == "2025-08-25T08:00:00Z"
        assert back.attrs["time_coverage_duration"] == "PT2H"
        assert back.attrs["time_coverage_resolution"] == "PT1H"
        np.testing.assert_array_equal(back.time.values, times.values)


# --- 5. grids the writer cannot georeference --------------------------------------------------------------------

def test_grid_with_lat_lon_dimensions_is_an_output_error(tmp_path):
    """A (time, lat, lon) grid with a CRS was written silently without GeoTransform, bounds or coordinate
    attributes: GDAL read an identity transform, CF and ACDD checks failed."""
    da = xr.DataArray(np.ones((2, 3, 4), np.float32), dims=("time", "lat", "lon"), name="precipitation",
                      coords={"time": pd.date_range("2025-01-01", periods=2, freq="h"),
                              "lat": [-1.0, -1.1, -1.2], "lon": [116.8, 116.9, 117.0, 117.1]})
    da = da.rio.set_spatial_dims(x_dim="lon", y_dim="lat").rio.write_crs("EPSG:4326")
    with pytest.raises(OutputError, match="rename"):
        write_netcdf(da.to_dataset(), tmp_path / "p.nc")
    # renamed as the message says, it is written georeferenced
    path = write_netcdf(da.rename(lon="x", lat="y").to_dataset(), tmp_path / "p.nc")
    _, arr, transform = _gdal_read(path, "precipitation")
    assert tuple(transform)[:6] == pytest.approx((0.1, 0.0, 116.75, 0.0, -0.1, -0.95))
