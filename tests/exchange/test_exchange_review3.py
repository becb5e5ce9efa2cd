"""Review 3 of the exchange profile, as the receiving region's data manager: neighbour files that
used to be imported with wrong numbers (values a CF reader treats as missing, a sign flipped by the
units, peaks read as flows, an inconsistent reference time) and an export that mislabelled its
cell methods."""
from __future__ import annotations

import json
import shutil

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.exchange import export_boundary, read_exchange, validate_exchange, write_exchange
from hydro.exchange.profile import discharge_factor
from hydro.routing import Inflow

from .conftest import good_dataset, manifest, sample_discharge
from .helpers import edit_nc as _edit, errors as _errors


def _good(tmp_path, name="good.nc"):
    return write_exchange(good_dataset(), tmp_path / name)




def _expected_b1():
    """The B1 series of good_dataset() as stored (float32)."""
    return sample_discharge().isel(point=0).values.astype(np.float32).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# values a CF reader treats as missing were imported as discharge
@pytest.mark.parametrize("attr, value", [("valid_max", np.float32(5.0e4)),
                                         ("valid_range", np.array([0.0, 5.0e4], np.float32))])
def test_values_outside_the_valid_range_are_missing_not_discharge(tmp_path, attr, value):
    """CF §2.5.1: values outside valid_min/valid_max/valid_range are missing. A producer flagging
    missing values as 99999 with valid_max = 50000 had 99999 m3 s-1 imported as an inflow."""
    def fn(nc):
        v = nc["discharge"]
        v.setncattr(attr, value)
        d = v[:]
        d[0, 2] = 99999.0
        v[:] = d

    path = _edit(_good(tmp_path), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"], errs
    assert "1 missing" in errs[0].message and "'B1'" in errs[0].message and "2026-01-10T03:00Z" in errs[0].message
    with pytest.raises(InputDataError, match="missing"):
        read_exchange(path, "B1")


def test_values_inside_the_valid_range_read_unchanged(tmp_path):
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("valid_range", np.array([0.0, 5.0e4], np.float32)))
    assert _errors(path) == []
    np.testing.assert_array_equal(read_exchange(path, "B1").values, _expected_b1())


def test_packed_discharge_with_a_packed_valid_range_reads_the_unpacked_values(tmp_path):
    """valid_range of packed data is in packed units (CF §8.1): not compared with unpacked values."""
    good = _good(tmp_path)
    with xr.open_dataset(good, decode_times=False) as ds:
        ds.load()
    ds["discharge"].attrs["valid_range"] = np.array([0, 32000], np.int16)
    enc = {v: {"_FillValue": None} for v in ds.variables if v != "discharge"}
    enc["discharge"] = {"dtype": "int16", "scale_factor": 0.001, "_FillValue": np.int16(-32767)}
    path = tmp_path / "packed.nc"
    ds.to_netcdf(path, format="NETCDF4", encoding=enc)
    assert _errors(path) == []
    np.testing.assert_allclose(read_exchange(path, "B1").values, _expected_b1(), atol=6e-4)


def test_netcdf_default_fill_without_fill_value_is_missing_not_discharge(tmp_path):
    """A discharge variable without _FillValue whose unwritten values hold netCDF's default fill
    (9.97e36 for float32) had 9.97e36 m3 s-1 imported."""
    good = _good(tmp_path)
    with xr.open_dataset(good, decode_times=False) as ds:
        ds.load()
    path = tmp_path / "nofill.nc"
    ds.to_netcdf(path, format="NETCDF4", encoding={v: {"_FillValue": None} for v in ds.variables})

    def fn(nc):
        v = nc["discharge"]
        assert "_FillValue" not in v.ncattrs()
        d = v[:]
        d[1, 5] = netCDF4.default_fillvals["f4"]
        v[:] = d

    _edit(path, fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"], errs
    assert "missing" in errs[0].message and "'B2'" in errs[0].message
    with pytest.raises(InputDataError, match="missing"):
        read_exchange(path, "B2")
    np.testing.assert_array_equal(  # the other values are untouched by the check
        np.delete(_read_raw(path)[1], 5), np.delete(sample_discharge().isel(point=1).values.astype(np.float32), 5))


def _read_raw(path):
    with netCDF4.Dataset(path) as nc:
        return np.asarray(nc["discharge"][:])


def test_implausibly_large_discharge_is_refused(tmp_path):
    """2e6 m3 s-1 at a border point (five times the Amazon's record) is a wrong number, not a flood."""
    def fn(nc):
        d = nc["discharge"][:]
        d[0, 7] = 2.0e6
        nc["discharge"][:] = d

    path = _edit(_good(tmp_path), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"] and "implausible" in errs[0].message, errs
    with pytest.raises(InputDataError, match="implausible"):
        read_exchange(path, "B1")
    # the same numbers declared in l s-1 are plausible (2000 m3 s-1) and read converted
    _edit(path, lambda nc: nc["discharge"].setncattr("units", "l s-1"))
    assert _errors(path) == []
    q = read_exchange(path, "B1")
    assert q.values[7] == pytest.approx(2000.0)
    np.testing.assert_allclose(q.values[:7], _expected_b1()[:7] * 1e-3)


# ----------------------------------------------------------------------------------------------
# units whose factor flips the sign or zeroes the flow
@pytest.mark.parametrize("units", ["-1 m3 s-1", "-1000 l s-1", "-3600 m3 h-1"])
def test_units_with_a_negative_scale_are_not_a_discharge(tmp_path, units):
    """'-1 m3 s-1' parsed as a factor of -1: positive stored values were imported as negative
    inflows (the negative-value check ran before the conversion)."""
    assert discharge_factor(units) is None
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("units", units))
    assert [p.code for p in _errors(path)] == ["units"]
    with pytest.raises(InputDataError, match="units"):
        read_exchange(path, "B1")


# ----------------------------------------------------------------------------------------------
# statistics other than a mean or a point value
@pytest.mark.parametrize("cm", ["time: maximum", "time: maximum (interval: 1 hour)", "time: sum", "time: minimum",
                                "area: mean time: maximum", "time: mean within days time: maximum over days"])
def test_discharge_statistics_other_than_mean_or_point_are_refused(tmp_path, cm):
    """A neighbour exporting its per-step peak (hydro's max_discharge has the same standard name)
    was read with a warning and routed as point values: inflow volumes overestimated."""
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("cell_methods", cm))
    errs = _errors(path)
    assert [p.code for p in errs] == ["variable"] and "cell_methods" in errs[0].message, errs
    with pytest.raises(InputDataError, match="cell_methods"):
        read_exchange(path, "B1")


@pytest.mark.parametrize("cm, read_as", [("time: mean (interval: 1 hour)", "time: mean (interval: 1 hour)"),
                                         ("time:mean", "time:mean"),
                                         ("area: mean time: mean", "time: mean"),
                                         ("time: point", "time: point")])
def test_mean_and_point_cell_methods_are_read_as_such(tmp_path, cm, read_as):
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("cell_methods", cm))
    assert _errors(path) == []
    q = read_exchange(path, "B1")
    assert q.attrs["cell_methods"] == read_as and q.attrs["period_s"] == 3600.0
    np.testing.assert_array_equal(q.values, _expected_b1())


def test_period_means_stated_after_another_method_are_routed_as_period_means(tmp_path):
    """'area: mean time: mean' is a period mean: the inflow takes each period's value, not the
    midpoint interpolation of point values."""
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("cell_methods", "area: mean time: mean"))
    inflow = Inflow.from_netcdf(path, "B1")
    starts = pd.date_range("2026-01-10 00:00", periods=24, freq="h")
    from hydro.routing import series_step_values

    got = series_step_values(inflow.discharge_m3s, starts, pd.Timedelta("1h"), what="B1")
    np.testing.assert_allclose(got, _expected_b1())


def test_missing_cell_methods_stay_a_warning(tmp_path):
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].delncattr("cell_methods"))
    probs = validate_exchange(path, check_cf=False)
    assert [(p.severity, p.code) for p in probs] == [("warning", "variable")]


# ----------------------------------------------------------------------------------------------
# the global forecast_reference_time is "the same time as the variable" (docs/exchange.md §3)
def test_global_reference_time_must_agree_with_the_variable(tmp_path):
    """A producer that wrote local time (WITA, +8 h) in one of the two places: the file claims two
    different forecast reference times; the receiver cannot tell which run it is."""
    path = _edit(_good(tmp_path), lambda nc: nc.setncattr("forecast_reference_time", "2026-01-10T08:00:00Z"))
    errs = _errors(path)
    assert [p.code for p in errs] == ["reference_time"] and "2026-01-10T00:00Z" in errs[0].message, errs
    with pytest.raises(InputDataError, match="forecast_reference_time"):
        read_exchange(path, "B1")
    # the same instant written with an offset is the same time
    _edit(path, lambda nc: nc.setncattr("forecast_reference_time", "2026-01-10T08:00:00+08:00"))
    assert _errors(path) == []
    assert read_exchange(path, "B1").attrs["forecast_reference_time"] == "2026-01-10T00:00:00Z"


# ----------------------------------------------------------------------------------------------
# export: the cell methods come from the variable that is exported
def test_export_states_the_cell_methods_of_the_exported_variable(run_dir, tmp_path, tiny):
    """A gauges file whose discharge variable is found by standard name (not named 'discharge')
    holding point values was exported as 'time: mean'."""
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    with netCDF4.Dataset(d / "runoff" / "run_gauges.nc", "a") as nc:
        nc.renameVariable("discharge", "q_point")
        nc["q_point"].cell_methods = "time: point"
        q = np.asarray(nc["q_point"][:], np.float64)
        ids = [str(s) for s in nc["station_id"][:]]
    (d / "manifest.json").write_text(json.dumps(manifest(tiny)))
    out = export_boundary(d, tmp_path / "out.nc")
    with xr.open_dataset(out) as ds:
        assert ds["discharge"].attrs["cell_methods"] == "time: point"
    np.testing.assert_array_equal(read_exchange(out, "G-out").values, q[ids.index("G-out")])


# ----------------------------------------------------------------------------------------------
# writer: labelled columns in another order than the point ids
def test_exchange_dataset_takes_labelled_points_by_label(tmp_path):
    """Discharge whose ``point`` coordinate is ['B2', 'B1'] with point_ids ['B1', 'B2'] was written
    positionally: B1 carried B2's discharge."""
    from hydro.exchange import exchange_dataset

    from .conftest import CRS, POINTS, START

    q = sample_discharge().assign_coords(point=["B2", "B1"])
    ds = exchange_dataset(q, ["B1", "B2"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r")
    path = write_exchange(ds, tmp_path / "labelled.nc")
    for pid in ("B1", "B2"):
        np.testing.assert_array_equal(read_exchange(path, pid).values,
                                      q.sel(point=pid).values.astype(np.float32).astype(np.float64))
    with pytest.raises(InputDataError, match="labelled"):
        exchange_dataset(q.assign_coords(point=["B1", "B3"]), ["B1", "B2"], POINTS["x"], POINTS["y"], CRS, START,
                         "upland", run_id="r")


# ----------------------------------------------------------------------------------------------
# writer: the CF grid mapping of a conic projection lost its standard parallels
@pytest.mark.parametrize("crs, lonlat", [("EPSG:3347", [(-75.0, 50.0), (-74.9, 50.1)]),  # Lambert conformal conic 2SP
                                         ("ESRI:102028", [(116.8, -1.2), (116.9, -1.1)])])  # Asia South Albers
def test_crs_variable_keeps_list_valued_grid_mapping_attributes(tmp_path, crs, lonlat):
    """pyproj's to_cf() gives standard_parallel as a tuple; it was dropped, so a CF reader
    rebuilding the projection from the grid-mapping attributes got another projection (and the
    CF checker refuses the LCC file: 'standard_parallel is a required attribute')."""
    from pyproj import CRS, Transformer

    from hydro.exchange import exchange_dataset

    from .conftest import START

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xy = [tr.transform(*p) for p in lonlat]
    ds = exchange_dataset(sample_discharge(), ["B1", "B2"], [p[0] for p in xy], [p[1] for p in xy], crs, START, "r",
                          run_id="r")
    path = write_exchange(ds, tmp_path / "conic.nc")
    assert [p for p in validate_exchange(path) if p.severity == "error"] == []  # with the CF-1.11 checker
    with netCDF4.Dataset(path) as nc:
        attrs = {k: nc["crs"].getncattr(k) for k in nc["crs"].ncattrs() if k not in ("crs_wkt", "spatial_ref")}
    want = CRS.from_user_input(crs).to_cf()["standard_parallel"]
    np.testing.assert_allclose(np.asarray(attrs["standard_parallel"], float), want)
    # the grid-mapping attributes alone give back the points' lon/lat
    cf_only = CRS.from_cf({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in attrs.items()
                           if k != "coverage_content_type"})
    back = Transformer.from_crs(cf_only, "EPSG:4326", always_xy=True)
    got = [back.transform(*p) for p in xy]
    np.testing.assert_allclose(got, lonlat, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# several per-point positions: the ones the discharge names in its coordinates attribute
def test_point_position_is_the_one_named_in_the_coordinates_attribute(tmp_path):
    """A file carrying the snapped model cell (x_cell/y_cell, 150 m off) before the agreed point x/y,
    both with the projection standard names: the first one in the file was taken as the inflow
    entry point, silently (within the 250 m lat/lon tolerance)."""
    from hydro.io import write_netcdf

    ds = good_dataset()
    extra = {"x_cell": (("station",), np.asarray(ds["x"].values) + 150.0, dict(ds["x"].attrs)),
             "y_cell": (("station",), np.asarray(ds["y"].values), dict(ds["y"].attrs))}
    ds2 = xr.Dataset({**extra, **{k: ds[k].variable for k in ds.data_vars}}, coords=ds.coords, attrs=ds.attrs)
    path = write_netcdf(ds2, tmp_path / "two_positions.nc", attrs={"id": ds.attrs["id"]})
    with netCDF4.Dataset(path) as nc:
        assert list(nc.variables).index("x_cell") < list(nc.variables).index("x")
        assert nc["discharge"].coordinates.split()[3:5] == ["x", "y"]
    assert _errors(path) == []
    q = read_exchange(path, "B2")
    assert (q.attrs["x"], q.attrs["y"]) == (490_000.0, 9_860_000.0)
    # without a coordinates attribute naming one of them the position is ambiguous: refused
    _edit(path, lambda nc: nc["discharge"].setncattr("coordinates", "time lat lon station_id"))
    errs = _errors(path)
    assert [p.code for p in errs] == ["coordinates", "coordinates"], errs
    assert "projection_x_coordinate" in errs[0].message and "projection_y_coordinate" in errs[1].message
