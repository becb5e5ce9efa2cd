"""Mutation audit (session rev_mut): tests that kill mutants the existing tests let through.

Grouped by area (split per area into tests/<area>/ if wanted); every expected number is derived by hand in the
docstring. One test (report: one-row map in US feet) also fails on the unfixed code: a real defect, see fix.diff.
"""
from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from hydro.errors import InputDataError

DAY = 86400.0


# ====================================================================================================
# area: hydro/routing/network.py  (tests/routing)
# ====================================================================================================

def test_reservoir_table_extrapolates_with_its_last_segment():
    """Above the table top (an extreme flood) level and storage continue the last segment of the table:
    storage 6e6 m3 on a table ending (10 m, 1e6), (20 m, 5e6) is 20 + 1e6 / 4e5 = 22.5 m, and back."""
    from hydro.routing.network import Reservoir

    r = Reservoir("R", 0.0, 0.0, level_m=[0.0, 10.0, 20.0], storage_m3=[0.0, 1.0e6, 5.0e6],
                  area_m2=[0.0, 2.0e5, 6.0e5], crest_level_m=18.0)
    assert float(r.level_at(6.0e6)) == pytest.approx(22.5)
    assert float(r.storage_at(22.5)) == pytest.approx(6.0e6)
    assert float(r.storage_at(15.0)) == pytest.approx(3.0e6)


def test_plain_dsg_period_means_keep_their_period(tmp_path):
    """A plain DSG file of hourly period means (cell_methods "time: mean", time_bnds): an hourly model step that is
    the period takes the period's value (6 m3/s), not the mean of a linear interpolation between labels (3 m3/s)."""
    import pandas as pd

    from hydro.io import timeseries_dataset, write_netcdf
    from hydro.routing.network import Inflow, series_step_values

    times = pd.date_range("2026-01-01 01:00", periods=5, freq="h")
    q = np.array([0.0, 0.0, 6.0, 0.0, 0.0])
    ds = timeseries_dataset({"discharge": q[None]}, ids=["border-1"], time=times, lat=[-1.2], lon=[116.9],
                            attrs={"discharge": {"units": "m3 s-1", "cell_methods": "time: mean"}},
                            time_bounds=[(t - pd.Timedelta("1h"), t) for t in times])
    path = write_netcdf(ds, tmp_path / "means.nc")
    inflow = Inflow.from_netcdf(path, "border-1", x=0.0, y=0.0)
    assert inflow.discharge_m3s.attrs["period_s"] == 3600.0
    starts = pd.date_range("2026-01-01 00:00", periods=5, freq="h")
    got = series_step_values(inflow.discharge_m3s, starts, pd.Timedelta("1h"), what="test")
    np.testing.assert_allclose(got, [0.0, 0.0, 6.0, 0.0, 0.0])


def test_inflow_snaps_within_three_cells_by_default():
    """An inflow point two cells (200 m) from the only channel row snaps to the channel cell beside it: the default
    radius is three cells (300 m), as documented."""
    import pandas as pd
    from affine import Affine

    from hydro.io.raster import from_array
    from hydro.routing.network import Inflow, RoutingNetwork, RoutingParameters
    from hydro.terrain import flow_network

    dx, n = 100.0, 6
    fd = np.ones((3, n), np.uint8)
    fd[:, -1] = 0
    net = flow_network(from_array(fd, Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0), "EPSG:32750",
                                  name="flow_direction"))
    z = np.tile(0.01 * dx * (n - np.arange(n)), (3, 1))
    channel = np.zeros((3, n), bool)
    channel[0] = True
    times = pd.date_range("2026-01-01", periods=3, freq="h")
    x, y = 500_000.0 + 2.5 * dx, 9_850_000.0 - 2.5 * dx  # centre of row 2, column 2
    inflow = Inflow("I", x, y, pd.Series([1.0, 1.0, 1.0], index=times))
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, inflows=[inflow], channel_mask=channel)
    assert int(rn.order[rn.inflow_pos[0]]) == 2  # row 0, column 2


def test_negative_abstraction_from_a_callable_names_the_step():
    """An allocation hook returning -1 m3/s at the first hourly step: InputDataError naming the step end."""
    import pandas as pd

    from hydro.errors import InputDataError
    from hydro.routing.network import AbstractionSchedule, Reservoir

    r = Reservoir("R", 0.0, 0.0, level_m=[0.0, 10.0], storage_m3=[0.0, 1.0e6], area_m2=[0.0, 2.0e5],
                  crest_level_m=8.0)
    starts = pd.date_range("2026-01-01", periods=2, freq="h")
    sched = AbstractionSchedule([r], starts, pd.Timedelta("1h"), overrides={"R": lambda a, b, s: -1.0})
    with pytest.raises(InputDataError, match="at 2026-01-01 01:00"):
        sched.at(0, np.array([5.0e5]))


def test_inflow_with_negative_discharge_is_refused():
    """A border series holding -2 m3/s would put water into the river by taking it out of nowhere: refused."""
    import pandas as pd

    from hydro.errors import InputDataError
    from hydro.routing.network import Inflow

    s = pd.Series([1.0, -2.0, 1.0], index=pd.date_range("2026-01-01", periods=3, freq="h"))
    with pytest.raises(InputDataError, match="negative discharge"):
        Inflow("I", 0.0, 0.0, s)


def test_ensemble_mean_with_a_missing_member_value_stays_missing(tmp_path):
    """Members 2, 4 and NaN at 02:00 (others 1, 3, 5): the ensemble mean at 02:00 is missing (NaN, refused when
    routed), not 3 = the mean of the two members that have a value."""
    import pandas as pd
    import xarray as xr

    from hydro.io import timeseries_dataset, write_netcdf
    from hydro.routing.network import Inflow

    times = pd.date_range("2026-01-01 01:00", periods=3, freq="h")
    q = np.array([[1.0, 2.0, 1.0], [3.0, 4.0, 3.0], [5.0, np.nan, 5.0]])  # (member, time)
    ds = timeseries_dataset({"discharge": q[:1]}, ids=["border-1"], time=times, lat=[-1.2], lon=[116.9],
                            attrs={"discharge": {"units": "m3 s-1"}})
    a = ds["discharge"].attrs
    ds["discharge"] = xr.DataArray(q[:, None, :], dims=("realization", "station", "time"), attrs=a)
    ds = ds.assign_coords(realization=("realization", np.arange(3), {"standard_name": "realization"}))
    path = write_netcdf(ds, tmp_path / "ens.nc")
    got = Inflow.from_netcdf(path, "border-1", x=0.0, y=0.0, ensemble_mean=True).discharge_m3s.values
    assert got[0] == pytest.approx(3.0) and got[2] == pytest.approx(3.0)
    assert np.isnan(got[1])

# ====================================================================================================
# area: hydro/io/netcdf.py  (tests/io)
# ====================================================================================================

def _grid(times):
    x = 500_000.0 + 100.0 * (np.arange(3) + 0.5)
    y = 9_850_000.0 - 100.0 * (np.arange(2) + 0.5)
    da = xr.DataArray(np.arange(len(times) * 6, dtype=np.float64).reshape(len(times), 2, 3), dims=("time", "y", "x"),
                      coords={"time": times, "y": y, "x": x}, name="water_depth", attrs={"units": "m"})
    return da.to_dataset().rio.write_crs("EPSG:32750")


def test_netcdf_tz_aware_times_are_written_in_utc(tmp_path):
    """Times given in WITA (UTC+8) are stored as UTC: 08:00 and 09:00 WITA are 00:00 and 01:00 UTC."""
    from hydro.io import write_netcdf
    from hydro.io.netcdf import open_netcdf

    wita = [pd.Timestamp("2026-01-10 08:00", tz="Asia/Makassar"), pd.Timestamp("2026-01-10 09:00", tz="Asia/Makassar")]
    ds = _grid(pd.date_range("2026-01-10", periods=2, freq="h"))
    ds = ds.assign_coords(time=("time", np.array(wita, dtype=object)))
    p = write_netcdf(ds, tmp_path / "wita.nc")
    with open_netcdf(p) as back:
        assert list(pd.DatetimeIndex(back["time"].values)) == [pd.Timestamp("2026-01-10 00:00"),
                                                               pd.Timestamp("2026-01-10 01:00")]
        assert back.attrs["time_coverage_start"] == "2026-01-10T00:00:00Z"


def test_netcdf_tz_aware_time_attribute_is_written_in_utc(tmp_path):
    """A global time attribute given in WITA is written as the UTC instant with a Z (08:30 WITA = 00:30Z)."""
    from hydro.io import write_netcdf
    from hydro.io.netcdf import open_netcdf

    ds = _grid(pd.date_range("2026-01-10", periods=2, freq="h"))
    p = write_netcdf(ds, tmp_path / "attr.nc",
                     attrs={"forecast_reference_time": pd.Timestamp("2026-01-10 08:30", tz="Asia/Makassar")})
    with open_netcdf(p) as back:
        assert back.attrs["forecast_reference_time"] == "2026-01-10T00:30:00Z"


def test_netcdf_float64_state_keeps_float64_values(tmp_path):
    """State files (float64_state=True) keep float64 values of a float32 vocabulary variable bit for bit
    (1 + 1e-12 m would read back as 1.0 in float32)."""
    from hydro.io import write_netcdf
    from hydro.io.netcdf import open_netcdf

    x = 500_000.0 + 100.0 * (np.arange(3) + 0.5)
    y = 9_850_000.0 - 100.0 * (np.arange(2) + 0.5)
    v = np.full((2, 3), 1.0 + 1e-12)
    ds = xr.Dataset({"elevation": (("y", "x"), v)}, coords={"y": y, "x": x}).rio.write_crs("EPSG:32750")
    p = write_netcdf(ds, tmp_path / "state.nc", float64_state=True)
    with open_netcdf(p) as back:
        assert back["elevation"].dtype == np.float64
        np.testing.assert_array_equal(back["elevation"].values, v)
    p32 = write_netcdf(ds, tmp_path / "map.nc")
    with open_netcdf(p32) as back:
        assert back["elevation"].encoding["dtype"] == np.float32

# ====================================================================================================
# area: hydro/flood/hand.py  (tests/flood)
# ====================================================================================================

def _row_terrain(n=10, dx=100.0):
    """One row of ``n`` stream cells of ``dx`` m draining east off the grid, bed slope 0.001."""
    from affine import Affine

    from hydro.io.raster import from_array

    t = Affine(dx, 0.0, 500_000.0, 0.0, -dx, 9_850_000.0)
    fd = np.ones((1, n), np.uint8)
    fd[0, -1] = 0
    z = (0.001 * dx * (n - np.arange(n))).reshape(1, n)
    fdir = from_array(fd, t, "EPSG:32750", name="flow_direction")
    return xr.Dataset({"flow_direction": fdir,
                       "streams": from_array(np.ones((1, n), np.uint8), t, "EPSG:32750", name="streams"),
                       "filled_elevation": from_array(z, t, "EPSG:32750", name="filled_elevation")})


def test_hand_reach_of_exactly_max_length_is_not_split():
    """10 stream cells of 100 m with max_length_m = 500: two reaches of 500 m (5 cells each), not 400/400/200."""
    from hydro.flood import reaches

    r = reaches(_row_terrain(), max_length_m=500.0)
    np.testing.assert_allclose(r["length_m"].values, [500.0, 500.0])
    assert r["stream_reach"].values.ravel().tolist() == [1] * 5 + [2] * 5

# ====================================================================================================
# area: hydro/exchange/validate.py  (tests/exchange)
# ====================================================================================================

EX_START = pd.Timestamp("2026-01-10 00:00")


def _exchange_file(path, q=None):
    """A valid exchange file: 2 border points (UTM 50S), 24 hourly period means of 1 m3/s unless ``q`` given."""
    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range(EX_START + pd.Timedelta("1h"), periods=24, freq="h")
    q = np.ones((24, 2)) if q is None else q
    da = xr.DataArray(q, dims=("time", "point"), coords={"time": times})
    ds = exchange_dataset(da, ["B1", "B2"], [480_000.0, 490_000.0], [9_850_000.0, 9_860_000.0], "EPSG:32750",
                          EX_START, "upland", run_id="upland_20260110T0000Z_f00d", config_hash="f00d")
    return write_exchange(ds, path)


def _edit_nc(path, fn):
    with netCDF4.Dataset(path, "a") as nc:
        nc.set_auto_mask(False)
        fn(nc)
    return path


def _errors(path):
    from hydro.exchange import validate_exchange

    return [p for p in validate_exchange(path, check_cf=False) if p.severity == "error"]


def test_exchange_reference_time_after_the_last_value_is_refused(tmp_path):
    """A forecast_reference_time two days after the last value (a stale or mislabelled file) is an error."""
    def fn(nc):
        v = nc["forecast_reference_time"]
        t = netCDF4.num2date(v[...], v.units, getattr(v, "calendar", "standard"))
        v[...] = netCDF4.date2num(t + pd.Timedelta("2D").to_pytimedelta(), v.units, getattr(v, "calendar", "standard"))
        if "forecast_reference_time" in nc.ncattrs():
            nc.delncattr("forecast_reference_time")

    path = _edit_nc(_exchange_file(tmp_path / "x.nc"), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["reference_time"], errs
    assert "2026-01-12T00:00Z is after the last time 2026-01-11T00:00Z" in errs[0].message
    with pytest.raises(InputDataError, match="after the last time"):
        from hydro.exchange import read_exchange
        read_exchange(path, "B1")


def test_exchange_first_period_longer_than_the_step_is_refused(tmp_path):
    """time_bnds contiguous but the first period 2 h long in an hourly file: its period_s (taken from the first
    bound) would be 7200 s, every value read as a 2-hour mean."""
    def fn(nc):
        b = nc["time_bnds"]
        vals = b[:]
        step = vals[1, 1] - vals[0, 1]
        vals[0, 0] = vals[0, 0] - step
        b[:] = vals

    path = _edit_nc(_exchange_file(tmp_path / "x.nc"), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["time"], errs
    assert "the period ending 2026-01-10T01:00Z lasts 0 days 02:00:00, the time step is 0 days 01:00:00" in errs[0].message


def test_exchange_packed_valid_range_is_in_packed_units(tmp_path):
    """valid_range of packed data is in packed units (CF §8.1): [0, 8000] with scale 0.001 is 0..8 m3/s, so
    9.5 m3/s at B2 (06:00) is outside it (missing), not a discharge."""
    from hydro.exchange import read_exchange

    q = np.ones((24, 2))
    q[5, 1] = 9.5
    good = _exchange_file(tmp_path / "good.nc", q)
    with xr.open_dataset(good, decode_times=False) as ds:
        ds.load()
    ds["discharge"].attrs["valid_range"] = np.array([0, 8000], np.int16)
    enc = {v: {"_FillValue": None} for v in ds.variables if v != "discharge"}
    enc["discharge"] = {"dtype": "int16", "scale_factor": 0.001, "_FillValue": np.int16(-32767)}
    path = tmp_path / "packed.nc"
    ds.to_netcdf(path, format="NETCDF4", encoding=enc)
    errs = _errors(path)
    assert [p.code for p in errs] == ["values"], errs
    assert "1 missing" in errs[0].message and "'B2', 2026-01-10T06:00Z" in errs[0].message
    with pytest.raises(InputDataError, match="missing"):
        read_exchange(path, "B2")


def test_exchange_lat_lon_one_kilometre_off_the_x_y_is_refused(tmp_path):
    """lat of B1 moved 0.01° (1113 m) from the position of its x/y: beyond the 250 m tolerance (wrong datum or
    CRS), while a 0.001° (111 m) rounding is accepted."""
    def shift(d):
        def fn(nc):
            name = next(v for v in nc.variables if getattr(nc[v], "standard_name", "") == "latitude")
            lat = nc[name][:]
            lat[0] += d
            nc[name][:] = lat
        return fn

    ok = _edit_nc(_exchange_file(tmp_path / "ok.nc"), shift(0.001))
    assert _errors(ok) == []
    bad = _edit_nc(_exchange_file(tmp_path / "bad.nc"), shift(0.01))
    errs = _errors(bad)
    assert [p.code for p in errs] == ["crs"], errs
    assert "point 'B1' disagree by 1113 m" in errs[0].message


def test_exchange_shorter_time_step_is_refused(tmp_path):
    """Hourly values whose times after 04:00 are shifted 30 min earlier (04:30, 05:30, ...): one 30-minute step in
    an hourly file is an irregular step (its value would be taken as an hour's mean), not accepted."""
    def fn(nc):
        t = nc["time"]
        vals = t[:]
        step = vals[1] - vals[0]
        vals[4:] = vals[4:] - 0.5 * step
        t[:] = vals
        t.delncattr("bounds")  # only the step check (no time_bnds: a warning)

    path = _edit_nc(_exchange_file(tmp_path / "x.nc"), fn)
    errs = _errors(path)
    assert [p.code for p in errs] == ["time"], errs
    assert "irregular step: 2026-01-10T04:00Z to 2026-01-10T04:30Z (step 0 days 01:00:00, 1 irregular" in errs[0].message


def test_exchange_duplicate_member_numbers_are_refused(tmp_path):
    """An ensemble file whose realization values are 3, 3: which member is which is unknown."""
    from hydro.exchange import exchange_dataset, write_exchange

    times = pd.date_range(EX_START + pd.Timedelta("1h"), periods=24, freq="h")
    da = xr.DataArray(np.ones((24, 2, 2)), dims=("time", "point", "realization"),
                      coords={"time": times, "realization": [0, 1]})
    ds = exchange_dataset(da, ["B1", "B2"], [480_000.0, 490_000.0], [9_850_000.0, 9_860_000.0], "EPSG:32750",
                          EX_START, "upland", run_id="upland_20260110T0000Z_f00d", config_hash="f00d")
    path = write_exchange(ds, tmp_path / "ens.nc")
    _edit_nc(path, lambda nc: nc["realization"].__setitem__(slice(None), np.array([3, 3])))
    errs = _errors(path)
    assert [p.code for p in errs] == ["realization"], errs
    assert errs[0].message == "duplicate ensemble member numbers"

# ====================================================================================================
# area: hydro/report/_data.py  (tests/report)
# ====================================================================================================

def test_report_cell_area_of_a_south_up_geographic_grid_follows_its_rows():
    """Per-row (ellipsoidal) areas of a south-up degree grid belong to the rows' own latitudes: the row at
    20..30 N is smaller than the row at -5..5 (hand: sphere R² Δλ (sin φ2 − sin φ1), within 0.5 %)."""
    from hydro.report._data import cell_area_m2

    lat = np.array([0.0, 10.0, 20.0])  # south-up: y increasing
    lon = np.array([100.0, 110.0])
    da = xr.DataArray(np.zeros((3, 2)), dims=("y", "x"), coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")
    a = cell_area_m2(da)
    r = 6371008.8
    sphere = r * r * np.radians(10.0) * (np.sin(np.radians(lat + 5.0)) - np.sin(np.radians(lat - 5.0)))
    np.testing.assert_allclose(a[:, 0], sphere, rtol=5e-3)
    np.testing.assert_allclose(a[:, 1], a[:, 0])
    north_up = cell_area_m2(da.isel(y=slice(None, None, -1)))
    np.testing.assert_allclose(a, north_up[::-1], rtol=1e-12)


def test_report_cell_area_of_a_one_row_map_in_us_feet_is_in_square_metres():
    """A one-row map on a US-survey-foot grid (100 ft cells): (100 × 1200/3937 m)² = 929.03 m² per cell, as for a
    two-row map of the same grid (it was 10 000, the area in ft²)."""
    from affine import Affine

    from hydro.report._data import cell_area_m2

    ft = 1200.0 / 3937.0
    da = xr.DataArray(np.zeros((1, 3)), dims=("y", "x"),
                      coords={"y": [1_999_950.0], "x": 6_000_000.0 + 100.0 * (np.arange(3) + 0.5)})
    da = da.rio.write_crs("EPSG:2229").rio.write_transform(Affine(100.0, 0.0, 6_000_000.0, 0.0, -100.0, 2_000_000.0))
    np.testing.assert_allclose(cell_area_m2(da), np.full((1, 3), (100.0 * ft) ** 2), rtol=1e-9)
    col = xr.DataArray(np.zeros((3, 1)), dims=("y", "x"),
                       coords={"y": 2_000_000.0 - 100.0 * (np.arange(3) + 0.5), "x": [6_000_050.0]})
    col = col.rio.write_crs("EPSG:2229").rio.write_transform(Affine(100.0, 0.0, 6_000_000.0, 0.0, -100.0, 2_000_000.0))
    np.testing.assert_allclose(cell_area_m2(col), np.full((3, 1), (100.0 * ft) ** 2), rtol=1e-9)


def test_report_ensemble_band_of_percentiles_low_is_the_lowest_percentile():
    """An ensemble reduced to percentiles 90, 10, 50 (any order): the band's low is the 10th, the high the 90th."""
    from hydro.report._data import ensemble_band

    times = pd.date_range("2026-01-10 01:00", periods=2, freq="h")
    vals = np.array([[9.0, 19.0], [1.0, 11.0], [5.0, 15.0]])  # percentile 90, 10, 50
    ens = xr.Dataset({"discharge": (("percentile", "time"), vals, {"units": "m3 s-1"})},
                     coords={"percentile": [90.0, 10.0, 50.0], "time": times})
    b = ensemble_band(ens, "G1", 0, 1)
    np.testing.assert_allclose(b["low"], [1.0, 11.0])
    np.testing.assert_allclose(b["high"], [9.0, 19.0])
    np.testing.assert_allclose(b["median"], [5.0, 15.0])


def test_report_one_step_allocation_takes_its_period_from_time_bnds():
    """One daily step with time_bnds: 0.25 m3/s short over 86 400 s = 21 600 m3 (25 % of demand)."""
    from hydro.report._data import region_series

    t = pd.DatetimeIndex(["2026-01-11"])
    ds = xr.Dataset({"water_demand": (("region", "time"), [[1.0]], {"units": "m3 s-1"}),
                     "delivery": (("region", "time"), [[0.75]], {"units": "m3 s-1"}),
                     "time_bnds": (("time", "nv"), np.array([[np.datetime64("2026-01-10"), np.datetime64("2026-01-11")]],
                                                            dtype="datetime64[ns]"))},
                    coords={"time": ("time", t, {"bounds": "time_bnds"}), "region": ["a"]})
    (r,) = region_series(ds)
    np.testing.assert_allclose(r.step_s, [86400.0])
    v = r.volumes()
    assert v["shortfall_volume_m3"] == pytest.approx(21_600.0)
    assert v["shortfall_percent"] == pytest.approx(25.0)


def test_report_cell_area_of_a_one_row_degree_map():
    """One row of 0.01° cells at the equator (-0.005..0.005): R² Δλ (sin φ2 − sin φ1) = 1.2364e6 m² per cell."""
    from affine import Affine

    from hydro.report._data import cell_area_m2

    da = xr.DataArray(np.zeros((1, 2)), dims=("y", "x"), coords={"y": [0.0], "x": [116.805, 116.815]})
    da = da.rio.write_crs("EPSG:4326").rio.write_transform(Affine(0.01, 0.0, 116.8, 0.0, -0.01, 0.005))
    r = 6371008.8
    want = r * r * np.radians(0.01) * 2.0 * np.sin(np.radians(0.005))
    assert want == pytest.approx(1.2364e6, rel=1e-4)
    np.testing.assert_allclose(cell_area_m2(da), np.full((1, 2), want), rtol=1e-9)
