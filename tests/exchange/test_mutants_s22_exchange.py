"""Mutation audit of hydro.exchange (validate/export/profile): tests killing surviving mutants.

Each test pins a documented rule of docs/exchange.md with hand-derived numbers.
"""
from __future__ import annotations

import json

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.exchange import exchange_dataset, export_boundary, read_exchange, write_exchange
from .helpers import edit_nc as _edit, errors as _errors

CRS = "EPSG:32750"
START = pd.Timestamp("2026-01-10 00:00")
IDS, XS, YS = ["B1", "B2"], [480_000.0, 490_000.0], [9_850_000.0, 9_860_000.0]


def _discharge(steps: int = 24, value: float = 5.0) -> xr.DataArray:
    """Constant discharge (time, point) on hourly labels from START + 1 h."""
    times = pd.date_range(START + pd.Timedelta("1h"), periods=steps, freq="h")
    return xr.DataArray(np.full((steps, 2), value), dims=("time", "point"), coords={"time": times})


def _dataset(da=None, ids=IDS, x=XS, y=YS, crs=CRS, frt=START, **kw):
    kw.setdefault("run_id", "upland_20260110T0000Z_f00d")
    kw.setdefault("config_hash", "f00d")
    return exchange_dataset(_discharge() if da is None else da, ids, x, y, crs, frt, "upland", **kw)


def _good(tmp_path, name="good.nc", **kw):
    return write_exchange(_dataset(**kw), tmp_path / name)




# ----------------------------------------------------------------------------------------------
def test_slightly_negative_discharge_is_an_error(tmp_path):
    """Rule 10: no negative discharge. -0.1 m3 s-1 < 0 (a sign error is not rounding)."""
    def fn(nc):
        d = nc["discharge"][:]
        d[0, 3] = -0.1
        nc["discharge"][:] = d

    path = _edit(_good(tmp_path), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"] and "1 negative" in errs[0].message, errs


def test_file_exactly_at_the_size_limit_is_accepted(tmp_path):
    """Rule 1: the file is *at most* max_bytes: a file of exactly max_bytes bytes is not refused."""
    path = _good(tmp_path)
    size = path.stat().st_size
    assert _errors(path, max_bytes=size) == []
    # one byte less: refused on stat
    assert [p.code for p in _errors(path, max_bytes=size - 1)] == ["size"]


def _shift_lon(path, dlon_deg):
    def fn(nc):
        lon = nc["lon"][:]
        lon[0] = lon[0] + dlon_deg
        nc["lon"][:] = lon
    return _edit(path, fn)


def test_latlon_disagreeing_by_more_than_250_m_is_an_error(tmp_path):
    """Rule 7: lat/lon within 250 m of x/y. Near the equator (lat ~ -1.36) a longitude shift of
    0.0045 deg is 0.0045 * 111320 * cos(1.36 deg) = 500.9 m > 250 m: a wrong CRS."""
    path = _shift_lon(_good(tmp_path), 0.0045)
    errs = _errors(path)
    assert [p.code for p in errs] == ["crs"] and "501 m" in errs[0].message, errs


def test_latlon_tolerance_uses_the_east_west_metres_at_the_latitude(tmp_path):
    """Rule 7 at 60 deg N (UTM 32N, x = 500 km on the central meridian 9 E, y = 6 651 411 m ~ 60 N):
    a longitude shift of 0.0036 deg is 0.0036 * 111320 * cos(60 deg) = 0.0036 * 111320 * 0.5
    = 200.4 m east-west: within 250 m, accepted (without the cos it would be 400.8 m)."""
    path = _good(tmp_path, x=[500_000.0, 510_000.0], y=[6_651_411.0, 6_651_411.0], crs="EPSG:32632")
    with netCDF4.Dataset(path) as nc:
        assert abs(float(nc["lat"][0]) - 60.0) < 0.01
    _shift_lon(path, 0.0036)
    assert _errors(path) == []
    # and 0.0050 deg is 0.0050 * 111320 * 0.5 = 278.3 m > 250 m: refused
    _shift_lon(path, 0.0050 - 0.0036)
    errs = _errors(path)
    assert [p.code for p in errs] == ["crs"] and "278 m" in errs[0].message, errs


def test_longitudes_in_0_360_are_accepted(tmp_path):
    """CF allows longitudes 0..360: a point at 63 W (UTM 20N central meridian) written as
    360 - 63 = 297 degrees_east is the same place (distance 0 m), not an error."""
    path = _good(tmp_path, x=[500_000.0, 510_000.0], y=[1_000_000.0, 1_000_000.0], crs="EPSG:32620")

    def fn(nc):
        lon = nc["lon"][:]
        assert abs(lon[0] - (-63.0)) < 1e-6
        lon[0] = lon[0] + 360.0  # 297.0
        nc["lon"][:] = lon

    _edit(path, fn)
    assert _errors(path) == []
    assert read_exchange(path, "B1").attrs["lon"] == pytest.approx(297.0)


def test_global_reference_time_earlier_than_the_variable_is_an_error(tmp_path):
    """Rule 8: the global forecast_reference_time is the variable's instant. '2026-01-09T16:00:00Z'
    is 8 h *before* 2026-01-10T00:00Z (a local time written as UTC the other way round)."""
    path = _edit(_good(tmp_path), lambda nc: nc.setncattr("forecast_reference_time", "2026-01-09T16:00:00Z"))
    errs = _errors(path)
    assert [p.code for p in errs] == ["reference_time"], errs


def test_reference_time_equal_to_the_last_time_is_accepted(tmp_path):
    """Rule 8: forecast_reference_time 'not after the last time': equal (24 h after START, the
    last of 24 hourly period ends START + 1 h .. START + 24 h) is allowed, by writer and reader."""
    last = START + pd.Timedelta("24h")
    path = _good(tmp_path, frt=last)
    assert _errors(path) == []
    assert read_exchange(path, "B1").attrs["forecast_reference_time"] == "2026-01-11T00:00:00Z"


def test_value_equal_to_valid_min_is_valid(tmp_path):
    """CF §2.5.1: valid_min is the smallest *valid* value: a discharge of exactly 0.0 with
    valid_min = 0.0 is a dry channel, not a missing value."""
    def fn(nc):
        v = nc["discharge"]
        v.setncattr("valid_min", np.float32(0.0))
        d = v[:]
        d[0, 0] = 0.0
        v[:] = d

    path = _edit(_good(tmp_path), fn)
    assert _errors(path) == []
    assert read_exchange(path, "B1").values[0] == 0.0


def test_cf_1_8_is_accepted(tmp_path):
    """Rule 4 / §3: Conventions CF-1.8 or later accepted."""
    path = _edit(_good(tmp_path), lambda nc: nc.setncattr("Conventions", "CF-1.8, ACDD-1.3"))
    assert _errors(path) == []


def test_profile_major_version_10_is_refused(tmp_path):
    """A reader of 1.0 refuses other major versions: 'hydro-exchange-10.0' is major 10, not 1.x."""
    path = _edit(_good(tmp_path), lambda nc: nc.setncattr("hydro_exchange_profile", "hydro-exchange-10.0"))
    errs = _errors(path)
    assert [p.code for p in errs] == ["profile"], errs
    # 1.3 is the same major version: a warning only
    _edit(path, lambda nc: nc.setncattr("hydro_exchange_profile", "hydro-exchange-1.3"))
    assert _errors(path) == []


def test_two_time_mean_methods_are_refused(tmp_path):
    """Rule 5: cell_methods states exactly one method for time; a climatology of means
    (two time methods, both 'mean') is not a series of period means."""
    cm = "time: mean within days time: mean over days"
    path = _edit(_good(tmp_path), lambda nc: nc["discharge"].setncattr("cell_methods", cm))
    errs = _errors(path)
    assert [p.code for p in errs] == ["variable"], errs


def _local_time_file(path, hours, offset):
    """A good file with its times shifted by `hours` (local values) and `offset` in the units."""
    write_exchange(_dataset(), path)
    with netCDF4.Dataset(path, "a") as nc:
        for v in ("time", "time_bnds"):
            nc[v][:] = nc[v][:] + hours
        nc["time"].units = f"hours since 2026-01-10 01:00:00 {offset}"
    return path


def test_utc_offset_with_60_minutes_is_refused(tmp_path):
    """'+08:60' is not an offset (minutes 0..59)."""
    errs = _errors(_local_time_file(tmp_path / "x.nc", 9.0, "+08:60"))
    assert errs and errs[0].code == "time" and "offset" in errs[0].message, errs


def test_utc_offset_of_14_hours_is_accepted(tmp_path):
    """UTC+14 (Kiribati) is the largest offset in use ('at most 14 hours'): 15:00 local + 14 h offset
    = 01:00 UTC, the first period end of the good file."""
    path = _local_time_file(tmp_path / "x.nc", 14.0, "+14:00")
    assert _errors(path) == []
    assert read_exchange(path, "B1")["time"].values[0] == np.datetime64("2026-01-10T01:00")


def test_single_time_with_zero_length_bounds_is_an_error(tmp_path):
    """Rule 8: time_bnds are (start, end = time) with start < end; a single period (no step to
    compare with) of zero length (start = end = 01:00) states no averaging period."""
    t = START + pd.Timedelta("1h")
    da = xr.DataArray(np.full((1, 2), 5.0), dims=("time", "point"), coords={"time": [t]})
    with pytest.raises(InputDataError, match="time_bounds"):
        exchange_dataset(da, IDS, XS, YS, CRS, START, "upland", run_id="r", time_bounds=[[t, t]])
    path = write_exchange(_dataset(da, time_bounds=[[START, t]]), tmp_path / "one.nc")

    def fn(nc):
        b = nc["time_bnds"][:]
        b[0, 0] = b[0, 1]
        nc["time_bnds"][:] = b

    _edit(path, fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["time"] and "bounds" in errs[0].message, errs


# ----------------------------------------------------------------------------------------------
# export_boundary on a fabricated run folder (no model run needed)
def _run_folder(tmp_path, variables, run_start=None, frt=None, gauge_xy=None):
    """manifest.json + runoff/run_gauges.nc: gauges G1 (border) and G2, 6 hourly periods
    ending 01:00 .. 06:00 with time_bnds (00:00, 01:00) .. (05:00, 06:00)."""
    d = tmp_path / "run"
    (d / "runoff").mkdir(parents=True)
    times = pd.date_range(START + pd.Timedelta("1h"), periods=6, freq="h")
    bnds = np.stack([(times - pd.Timedelta("1h")).values, times.values], axis=1)
    ds = xr.Dataset(
        {name: (("station", "time"), vals, attrs) for name, (vals, attrs) in variables.items()}
        | {"station_id": (("station",), np.array(["G1", "G2"], dtype=object), {"cf_role": "timeseries_id"}),
           "x": (("station",), np.array(XS)), "y": (("station",), np.array(YS)),
           "time_bnds": (("time", "nv"), bnds)},
        coords={"time": ("time", times.values, {"bounds": "time_bnds"})},
    )
    if run_start is not None:
        ds.attrs["hydro_run_start"] = run_start
    units = {"units": "hours since 2026-01-10 00:00:00", "dtype": "float64"}
    ds.to_netcdf(d / "runoff" / "run_gauges.nc", format="NETCDF4", encoding={"time": units, "time_bnds": units})
    m = {"status": "complete", "run_id": "tinyland_r1", "region": "tinyland", "config_hash": "abc", "crs": CRS,
         "config": {"gauges": [{"id": "G1", "name": "border", "border": True}, {"id": "G2", "border": False}]}}
    if frt is not None:
        m["forecast_reference_time"] = frt
    if gauge_xy is not None:
        m["config"]["gauges"][0].update(x=gauge_xy[0], y=gauge_xy[1])
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def _q(value):
    return np.full((2, 6), value, dtype=np.float32)


def test_export_reference_time_falls_back_to_the_first_period_start(tmp_path):
    """§5: without manifest forecast_reference_time and hydro_run_start, the forecast reference
    time is the start of the first time step: time_bnds[0, 0] = 01:00 - 1 h = 2026-01-10T00:00Z
    (not the first period end, 01:00)."""
    d = _run_folder(tmp_path, {"discharge": (_q(3.0), {"units": "m3 s-1", "cell_methods": "time: mean"})})
    out = export_boundary(d, f"{tmp_path / 'exchange'}/")
    assert out.name == "tinyland_20260110T0000Z_border_discharge.nc"
    assert read_exchange(out, "G1").attrs["forecast_reference_time"] == "2026-01-10T00:00:00Z"


def test_export_converts_discharge_in_litres_per_second(tmp_path):
    """A gauges file in l s-1: 2500 l s-1 = 2500 * 0.001 = 2.5 m3 s-1 in the exchange file (units m3 s-1)."""
    d = _run_folder(tmp_path, {"discharge": (_q(2500.0), {"units": "l s-1", "cell_methods": "time: mean"})})
    out = export_boundary(d, tmp_path / "out.nc")
    q = read_exchange(out, "G1")
    np.testing.assert_allclose(q.values, np.full(6, 2.5), rtol=1e-6)


def test_export_skips_the_maximum_discharge_variable(tmp_path):
    """§5: without 'discharge', the exported variable is the one with the discharge standard name
    that is not a maximum: q (4.0, time: mean), not max_q (9.0, time: maximum) listed first."""
    std = "water_volume_transport_in_river_channel"
    d = _run_folder(tmp_path, {
        "max_q": (_q(9.0), {"standard_name": std, "units": "m3 s-1", "cell_methods": "time: maximum"}),
        "q": (_q(4.0), {"standard_name": std, "units": "m3 s-1", "cell_methods": "time: mean"}),
    })
    out = export_boundary(d, tmp_path / "out.nc")
    q = read_exchange(out, "G1")
    np.testing.assert_array_equal(q.values, np.full(6, 4.0))
    assert q.attrs["cell_methods"] == "time: mean"


def test_exchange_dataset_refuses_discharge_not_in_m3_s(tmp_path):
    """exchange_dataset takes m3 s-1 only: 5.0 labelled 'l s-1' would be written as 5.0 m3 s-1,
    1000 times the flow (5.0 l s-1 = 0.005 m3 s-1)."""
    da = _discharge().assign_attrs(units="l s-1")
    with pytest.raises(InputDataError, match="units"):
        _dataset(da)
    # any spelling of m3 s-1 is fine
    assert _dataset(_discharge().assign_attrs(units="m3/s"))["discharge"].values[0, 0] == 5.0


def _packed(tmp_path, values, valid_attrs, scale, offset):
    """The good file re-written with discharge packed as int16 (scale, offset) and valid_* attributes."""
    good = _good(tmp_path, da=_discharge(value=12.0))
    with xr.open_dataset(good, decode_times=False) as ds:
        ds.load()
    d = ds["discharge"].values
    for (i, k), v in values.items():
        d[i, k] = v
    ds["discharge"].values = d
    ds["discharge"].attrs.update(valid_attrs)
    enc = {v: {"_FillValue": None} for v in ds.variables if v != "discharge"}
    enc["discharge"] = {"dtype": "int16", "scale_factor": scale, "add_offset": offset, "_FillValue": np.int16(-32767)}
    path = tmp_path / "packed.nc"
    ds.to_netcdf(path, format="NETCDF4", encoding=enc)
    return path


def test_packed_valid_min_is_unpacked_with_the_offset(tmp_path):
    """CF §8.1: valid_min of packed data is in packed units. int16 with scale 0.001 and offset 10:
    valid_min = 1000 is 1000 * 0.001 + 10 = 11.0 m3 s-1. 12.0 m3 s-1 is valid, 10.5 m3 s-1
    (packed (10.5 - 10) / 0.001 = 500 < 1000) is missing."""
    path = _packed(tmp_path, {(0, 4): 10.5}, {"valid_min": np.int16(1000)}, 0.001, 10.0)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"] and "1 missing" in errs[0].message, errs
    assert "'B1'" in errs[0].message and "2026-01-10T05:00Z" in errs[0].message


def test_packed_valid_range_with_a_negative_scale_is_ordered(tmp_path):
    """valid_range [0, 20000] packed with scale -0.001 and offset 20 unpacks to 20.0 .. 0.0 m3 s-1
    (0 * -0.001 + 20 = 20, 20000 * -0.001 + 20 = 0): 12.0 m3 s-1 lies inside, not missing."""
    path = _packed(tmp_path, {}, {"valid_range": np.array([0, 20000], np.int16)}, -0.001, 20.0)
    assert _errors(path) == []
    np.testing.assert_allclose(read_exchange(path, "B1").values, np.full(24, 12.0), atol=1e-3)


def test_global_reference_time_30_minutes_off_is_an_error(tmp_path):
    """Rule 8: the global forecast_reference_time is the *same instant* as the variable
    (2026-01-10T00:00Z); 00:30Z is 30 min = 1800 s off (>= the 1 s the attribute is written to)."""
    path = _edit(_good(tmp_path), lambda nc: nc.setncattr("forecast_reference_time", "2026-01-10T00:30:00Z"))
    assert [p.code for p in _errors(path)] == ["reference_time"]


def test_xy_of_a_crs_with_a_unit_slightly_off_the_metre_are_converted(tmp_path):
    """A CRS whose x/y unit is 1.001 m (+to_meter=1.001) is not in metres: x = 480 000 units is
    480 000 * 1.001 = 480 480 m, y = 9 850 000 * 1.001 = 9 859 850 m in the file (units 'm')."""
    crs = "+proj=tmerc +lon_0=117 +k=0.9996 +x_0=500000 +y_0=10000000 +ellps=WGS84 +to_meter=1.001 +type=crs"
    path = _good(tmp_path, crs=crs)
    with netCDF4.Dataset(path) as nc:
        np.testing.assert_allclose(nc["x"][:], [480_480.0, 490_490.0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(nc["y"][:], [9_859_850.0, 9_869_860.0], rtol=0, atol=1e-6)
    assert _errors(path) == []


def test_export_uses_the_configured_gauge_coordinates(tmp_path):
    """§5: point coordinates are the configured gauge x/y (the agreed point, 480 050 / 9 850 050),
    not the snapped cell of the gauges file (480 000 / 9 850 000)."""
    d = _run_folder(tmp_path, {"discharge": (_q(3.0), {"units": "m3 s-1", "cell_methods": "time: mean"})},
                    gauge_xy=(480_050.0, 9_850_050.0))
    q = read_exchange(export_boundary(d, tmp_path / "out.nc"), "G1")
    assert (q.attrs["x"], q.attrs["y"]) == (480_050.0, 9_850_050.0)
