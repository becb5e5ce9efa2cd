"""Regressions of the exchange review: sub-hour steps, contiguous time bounds, validated inflows,
period-mean step values, kept producer provenance, units with an offset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.exchange import exchange_dataset, read_exchange, validate_exchange, write_exchange
from hydro.exchange.profile import discharge_factor
from hydro.io import write_netcdf
from hydro.routing import Inflow, series_step_values
from hydro.testing import assert_cf_compliant

from .conftest import CRS, POINTS, START, good_dataset

netCDF4 = pytest.importorskip("netCDF4")


def _q(freq: str, steps: int = 24, values=None) -> xr.DataArray:
    times = pd.date_range(START + pd.Timedelta(freq), periods=steps, freq=freq)
    v = np.random.default_rng(0).uniform(0.5, 9, (steps, 2)) if values is None else np.asarray(values, float)
    return xr.DataArray(v, dims=("time", "point"), coords={"time": times})


def _errors(path, **kw):
    return [p for p in validate_exchange(path, **kw) if p.severity == "error"]


@pytest.mark.parametrize("freq", ["5min", "10min", "15min"])
def test_sub_hour_exchange_files_are_written_and_valid(tmp_path, freq):
    ds = exchange_dataset(_q(freq), POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r1")
    path = write_exchange(ds, tmp_path / f"ex_{freq}.nc")
    assert _errors(path) == []
    q = read_exchange(path, "B1")
    np.testing.assert_array_equal(q.time.values, ds.time.values)
    assert q.attrs["period_s"] == pd.Timedelta(freq).total_seconds()


def test_float_hour_times_of_other_producers_decode_to_the_minute(tmp_path):
    """A 10-minute file in float64 'hours since' (as hydro wrote before) reads as a regular axis."""
    good = write_netcdf(exchange_dataset(_q("10min"), POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland",
                                         run_id="r1"), tmp_path / "good.nc")
    with xr.open_dataset(good) as ds:
        ds.load()
    units = "hours since 2026-01-10 00:10:00"
    enc = {"time": {"units": units, "dtype": "float64", "_FillValue": None},
           "time_bnds": {"units": units, "dtype": "float64", "_FillValue": None}}
    old = tmp_path / "old.nc"
    ds.to_netcdf(old, format="NETCDF4", encoding=enc)
    assert not [p for p in _errors(old, check_cf=False) if p.code == "time"]


def _with_bounds(tmp_path, name, shift_start):
    """A good file whose time_bnds starts are moved by ``shift_start`` (ends stay at the times)."""
    path = write_exchange(good_dataset(), tmp_path / name)
    with netCDF4.Dataset(path, "a") as nc:
        assert nc["time"].units.startswith("hours since")
        b = nc["time_bnds"][:]
        b[:, 0] = b[:, 1] - pd.Timedelta(shift_start) / pd.Timedelta("1h")
        nc["time_bnds"][:] = b
    return path


@pytest.mark.parametrize("length, kind", [("30min", "gap"), ("6h", "overlap")])
def test_validator_refuses_time_bounds_that_are_not_contiguous(tmp_path, length, kind):
    path = _with_bounds(tmp_path, f"b_{length}.nc", length)
    errs = _errors(path, check_cf=False)
    assert [p.code for p in errs] == ["time"] and kind in errs[0].message
    with pytest.raises(InputDataError, match=kind):
        read_exchange(path, "B1")


def test_exchange_dataset_refuses_time_bounds_that_are_not_contiguous():
    q = _q("1h")
    t = pd.DatetimeIndex(q.time.values)
    with pytest.raises(InputDataError, match="contiguous"):
        exchange_dataset(q, POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r1",
                         time_bounds=np.stack([t - pd.Timedelta("30min"), t], axis=1))


def test_inflow_from_an_exchange_file_with_a_gap_is_refused(tmp_path):
    ds = good_dataset().isel(time=[i for i in range(24) if i not in range(8, 14)])
    path = write_netcdf(ds, tmp_path / "gap.nc", attrs={"id": "x"})
    with pytest.raises(InputDataError, match="gap"):
        Inflow.from_netcdf(path, "B1")


def test_inflow_from_a_plain_dsg_file_with_a_gap_is_refused(tmp_path):
    from hydro.io import timeseries_dataset

    t = pd.date_range("2026-01-01 01:00", periods=10, freq="h").delete([4, 5, 6])
    ds = timeseries_dataset({"discharge": np.ones((1, len(t)))}, ids=["b"], time=t, lat=[-1.2], lon=[116.9])
    path = write_netcdf(ds, tmp_path / "plain_gap.nc")
    with pytest.raises(InputDataError, match="not regular"):
        Inflow.from_netcdf(path, "b", 0.0, 0.0)


def _means(values, start="2026-01-10 01:00", freq="1h"):
    s = pd.Series(np.asarray(values, float), index=pd.date_range(start, periods=len(values), freq=freq))
    s.attrs.update(cell_methods="time: mean", period_s=pd.Timedelta(freq).total_seconds())
    return s


def test_step_values_of_period_means_are_time_weighted_means():
    s = _means([10.0, 20.0, 30.0])  # means of 00-01, 01-02, 02-03
    h = pd.Timedelta("1h")
    np.testing.assert_array_equal(series_step_values(s, pd.date_range("2026-01-10 01:00", periods=2, freq="h"), h, what="q"),
                                  [20.0, 30.0])
    # a run starting at 00:00 is covered by the period (00:00, 01:00]
    np.testing.assert_array_equal(series_step_values(s, pd.date_range("2026-01-10 00:00", periods=3, freq="h"), h, what="q"),
                                  [10.0, 20.0, 30.0])
    # finer steps take their period's value, a coarser or shifted step the time-weighted mean
    half = series_step_values(s, pd.date_range("2026-01-10 00:00", periods=6, freq="30min"), pd.Timedelta("30min"), what="q")
    np.testing.assert_array_equal(half, [10.0, 10.0, 20.0, 20.0, 30.0, 30.0])
    np.testing.assert_allclose(series_step_values(s, pd.DatetimeIndex(["2026-01-10 00:30"]), pd.Timedelta("2h"), what="q"),
                               [20.0])
    with pytest.raises(InputDataError, match="covers"):
        series_step_values(s, pd.date_range("2026-01-10 02:00", periods=2, freq="h"), h, what="q")
    gap = s.drop(s.index[1])
    with pytest.raises(InputDataError, match="gap"):
        series_step_values(gap, pd.date_range("2026-01-10 00:00", periods=3, freq="h"), h, what="q")
    # without the attributes: point values, linear at the step midpoint (unchanged)
    plain = pd.Series(s.values, index=s.index)
    np.testing.assert_allclose(series_step_values(plain, pd.date_range("2026-01-10 01:00", periods=2, freq="h"), h, what="q"),
                               [15.0, 25.0])


def test_inflow_from_an_exchange_file_uses_period_means(tmp_path):
    q = _q("1h", steps=3, values=[[10.0, 1.0], [20.0, 1.0], [30.0, 1.0]])
    path = write_exchange(exchange_dataset(q, POINTS["ids"], POINTS["x"], POINTS["y"], CRS, START, "upland", run_id="r1"),
                          tmp_path / "means.nc")
    inflow = Inflow.from_netcdf(path, "B1")
    vals = series_step_values(inflow.discharge_m3s, pd.date_range(START, periods=3, freq="h"), pd.Timedelta("1h"), what="q")
    np.testing.assert_array_equal(vals, [10.0, 20.0, 30.0])


def test_write_exchange_keeps_the_producer_version_and_source(tmp_path):
    ds = good_dataset(hydro_version="0.0.9-producer", attrs={"source": "hydro GR4J+KW, ECMWF ENS 00Z"})
    path = write_exchange(ds, tmp_path / "ver.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc.hydro_version == "0.0.9-producer"
        assert nc.source == "hydro GR4J+KW, ECMWF ENS 00Z"


def test_exchange_coordinates_carry_no_fill_value(tmp_path):
    path = write_exchange(good_dataset(), tmp_path / "fill.nc")
    with netCDF4.Dataset(path) as nc:
        for name in ("lat", "lon", "x", "y", "time", "forecast_reference_time"):
            assert "_FillValue" not in nc[name].ncattrs(), name
    assert_cf_compliant(path)


@pytest.mark.parametrize("units", ["m3 s-1 @ 100", "m3 s-1 @ -5"])
def test_units_with_an_offset_are_not_a_discharge(tmp_path, units):
    assert discharge_factor(units) is None
    path = write_exchange(good_dataset(), tmp_path / "u.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc["discharge"].units = units
    assert "units" in [p.code for p in _errors(path, check_cf=False)]
    assert discharge_factor("l s-1") == pytest.approx(1e-3)
