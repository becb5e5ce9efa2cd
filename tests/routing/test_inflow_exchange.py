"""Inflow.from_netcdf on neighbours' border-flow files: ensemble members, discharge units, CRS.

Exchange files are built with :func:`hydro.exchange.exchange_dataset` (profile ``hydro-exchange-1.0``);
plain CF DSG timeSeries files with :func:`hydro.io.timeseries_dataset`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from pyproj import Transformer

from hydro.errors import ConfigError, InputDataError
from hydro.exchange import exchange_dataset, write_exchange
from hydro.io import timeseries_dataset, write_netcdf
from hydro.io.raster import from_array
from hydro.routing import Inflow, RoutingNetwork, RoutingParameters, series_step_values
from hydro.terrain import flow_network

PRODUCER_CRS = "EPSG:32750"  # UTM 50S, the neighbour's grid
START = pd.Timestamp("2026-01-10 00:00")
IDS = ["B1", "B2"]
X = [480_000.0, 490_000.0]
Y = [9_850_000.0, 9_860_000.0]
STEPS = 6


def _times() -> pd.DatetimeIndex:
    return pd.date_range(START + pd.Timedelta("1h"), periods=STEPS, freq="h")


def _member_values(members) -> np.ndarray:
    """(time, point, member) values: member k of point p at step t = 10 k + p + 0.25 t [m3 s-1]."""
    m = np.asarray(members, float)
    t = np.arange(STEPS, dtype=float)
    return 10.0 * m[None, None, :] + np.array([0.0, 1.0])[None, :, None] + 0.25 * t[:, None, None]


def _exchange_file(tmp_path, name="ex.nc", *, members=None, values=None, units=None, x=X, y=Y, crs=PRODUCER_CRS):
    """Write an exchange file; ``units`` (e.g. ``"l s-1"``) rescales the stored values to that unit."""
    if members is None:
        vals = np.asarray(values if values is not None else _member_values([0])[..., 0], float)
        da = xr.DataArray(vals, dims=("time", "point"), coords={"time": _times()})
    else:
        vals = _member_values(members)
        da = xr.DataArray(vals, dims=("time", "point", "realization"),
                          coords={"time": _times(), "realization": np.asarray(members)})
    ds = exchange_dataset(da, IDS, x, y, crs, START, "upland", run_id="upland_run_1")
    if units is not None:  # the same flows stored in another unit (the profile converts with a warning)
        from hydro.exchange.profile import discharge_factor

        attrs = dict(ds["discharge"].attrs, units=units)
        ds["discharge"] = ds["discharge"] / discharge_factor(units)
        ds["discharge"].attrs = attrs
    return write_exchange(ds, tmp_path / name)


def _plain_file(tmp_path, name="plain.nc", *, q, units="m3 s-1", lat=(-1.2,), lon=(116.9,), xy=None,
                realization=None):
    """A plain DSG timeSeries (one station ``border-1``).

    ``q`` is (time,), or (member, time) with ``realization`` labels; ``xy`` the station's x/y (no CRS stated).
    """
    times = pd.date_range("2026-01-01", periods=q.shape[-1], freq="h")
    inst = {"x": [xy[0]], "y": [xy[1]]} if xy is not None else None
    attrs = {"discharge": {"units": units}}
    if xy is not None:
        attrs.update(x={"standard_name": "projection_x_coordinate", "units": "m"},
                     y={"standard_name": "projection_y_coordinate", "units": "m"})
    first = np.asarray(q, float) if realization is None else np.asarray(q, float)[0]
    ds = timeseries_dataset({"discharge": first[None]}, ids=["border-1"], time=times, lat=list(lat), lon=list(lon),
                            instance_variables=inst, attrs=attrs)
    if realization is not None:
        a = ds["discharge"].attrs
        ds["discharge"] = xr.DataArray(np.asarray(q)[:, None, :], dims=("realization", "station", "time"), attrs=a)
        ds = ds.assign_coords(realization=("realization", np.asarray(realization),
                                           {"standard_name": "realization", "long_name": "member"}))
    return write_netcdf(ds, tmp_path / name)


# ------------------------------------------------------------------------------------------------
# 1. ensemble members: by the realization label, never silently the first
def test_member_is_selected_by_realization_label_not_position(tmp_path):
    members = [2, 0, 1]  # position 0 holds member 2
    path = _exchange_file(tmp_path, members=members)
    want = _member_values(members)
    for label, pos in ((0, 1), (1, 2), (2, 0)):
        inflow = Inflow.from_netcdf(path, "B1", realization=label)
        np.testing.assert_allclose(inflow.discharge_m3s.values, want[:, 0, pos], rtol=1e-6)
        assert inflow.discharge_m3s.attrs["period_s"] == 3600.0
        assert f"realization={label}" in inflow.source
    # a string label from a command line selects the same member
    np.testing.assert_allclose(Inflow.from_netcdf(path, "B2", realization="1").discharge_m3s.values,
                               want[:, 1, 2], rtol=1e-6)


def test_member_numbers_that_are_not_positions(tmp_path):
    path = _exchange_file(tmp_path, members=[10, 20, 30])
    inflow = Inflow.from_netcdf(path, "B1", realization=20)
    np.testing.assert_allclose(inflow.discharge_m3s.values, 200.0 + 0.25 * np.arange(STEPS), rtol=1e-6)
    with pytest.raises(InputDataError, match=r"realization 1 .*not in the file.*\[10, 20, 30\]"):
        Inflow.from_netcdf(path, "B1", realization=1)


def test_several_members_and_no_choice_is_a_clear_error(tmp_path):
    path = _exchange_file(tmp_path, members=[0, 1, 2])
    with pytest.raises(InputDataError, match=r"3 ensemble members \[0, 1, 2\].*realization=.*ensemble_mean=True"):
        Inflow.from_netcdf(path, "B1")


def test_ensemble_mean_only_when_asked(tmp_path):
    members = [0, 1, 2]
    path = _exchange_file(tmp_path, members=members)
    inflow = Inflow.from_netcdf(path, "B2", ensemble_mean=True)
    np.testing.assert_allclose(inflow.discharge_m3s.values, _member_values(members)[:, 1, :].mean(axis=1), rtol=1e-6)
    assert inflow.discharge_m3s.attrs["cell_methods"].startswith("time: mean")  # still period means
    assert "ensemble mean" in inflow.source
    with pytest.raises(ConfigError, match="not both"):
        Inflow.from_netcdf(path, "B2", realization=1, ensemble_mean=True)


def test_single_member_file_needs_no_choice_and_deterministic_file_has_no_members(tmp_path):
    one = _exchange_file(tmp_path, "one.nc", members=[7])
    np.testing.assert_allclose(Inflow.from_netcdf(one, "B1").discharge_m3s.values, 70.0 + 0.25 * np.arange(STEPS),
                               rtol=1e-6)
    det = _exchange_file(tmp_path, "det.nc")
    with pytest.raises(InputDataError, match="no realization dimension"):
        Inflow.from_netcdf(det, "B1", realization=0)
    # the ensemble mean of a deterministic file is the file's series
    np.testing.assert_allclose(Inflow.from_netcdf(det, "B1", ensemble_mean=True).discharge_m3s.values,
                               0.25 * np.arange(STEPS), rtol=1e-6)


def test_plain_dsg_members_with_string_labels(tmp_path):
    q = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    path = _plain_file(tmp_path, q=q, realization=["m1", "m3", "m2"], xy=(0.0, 0.0))
    inflow = Inflow.from_netcdf(path, "border-1", realization="m2")
    np.testing.assert_allclose(inflow.discharge_m3s.values, [7.0, 8.0, 9.0])
    mean = Inflow.from_netcdf(path, "border-1", ensemble_mean=True)
    np.testing.assert_allclose(mean.discharge_m3s.values, [4.0, 5.0, 6.0])
    with pytest.raises(InputDataError, match="3 ensemble members"):
        Inflow.from_netcdf(path, "border-1")
    with pytest.raises(InputDataError, match="'m4'.*not in the file"):
        Inflow.from_netcdf(path, "border-1", realization="m4")


# ------------------------------------------------------------------------------------------------
# 2. any UDUNITS discharge unit is converted to m3 s-1
def test_exchange_file_in_litres_per_second_is_converted(tmp_path):
    path = _exchange_file(tmp_path, values=np.full((STEPS, 2), 0.5), units="l s-1")
    import netCDF4

    with netCDF4.Dataset(path) as nc:  # the file really holds 500 l s-1
        assert nc["discharge"].units == "l s-1"
        np.testing.assert_allclose(nc["discharge"][0, :], 500.0)
    inflow = Inflow.from_netcdf(path, "B1")
    np.testing.assert_allclose(inflow.discharge_m3s.values, 0.5, rtol=1e-6)
    starts = pd.date_range(START, periods=STEPS, freq="h")
    vals = series_step_values(inflow.discharge_m3s, starts, pd.Timedelta("1h"), what="B1")
    np.testing.assert_allclose(vals, 0.5, rtol=1e-6)


@pytest.mark.parametrize("units, factor", [("l s-1", 1e-3), ("L/s", 1e-3), ("m3 h-1", 1 / 3600.0), ("m3/s", 1.0),
                                           ("m^3 s^-1", 1.0), ("kl s-1", 1.0)])
def test_plain_dsg_units_are_converted(tmp_path, units, factor):
    q = np.array([500.0, 1000.0, 1500.0])
    path = _plain_file(tmp_path, q=q, units=units, xy=(0.0, 0.0))
    inflow = Inflow.from_netcdf(path, "border-1")
    np.testing.assert_allclose(inflow.discharge_m3s.values, q * factor, rtol=1e-6)


@pytest.mark.parametrize("units", ["mm", "m3", "kg m-2 s-1", "m s-1", "", "m3 s-1 @ 100", "-1 m3 s-1", "banana"])
def test_units_that_are_not_a_discharge_are_refused(tmp_path, units):
    path = _plain_file(tmp_path, q=np.ones(3), units=units, xy=(0.0, 0.0))
    with pytest.raises(InputDataError, match=r"plain.nc.*units .*not a discharge"):
        Inflow.from_netcdf(path, "border-1")


# ------------------------------------------------------------------------------------------------
# 3. the border point in the receiving model's CRS
def _utm_north(x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(PRODUCER_CRS, "EPSG:32650", always_xy=True).transform(x, y)


def test_exchange_point_is_transformed_to_the_model_crs(tmp_path):
    path = _exchange_file(tmp_path)
    same = Inflow.from_netcdf(path, "B1", crs=PRODUCER_CRS)
    assert (same.x, same.y) == (X[0], Y[0])
    north = Inflow.from_netcdf(path, "B2", crs="EPSG:32650")  # same zone, northern false northing
    assert north.x == pytest.approx(X[1], abs=1e-6) and north.y == pytest.approx(Y[1] - 10_000_000.0, abs=1e-6)
    tm = Inflow.from_netcdf(path, "B1", crs="EPSG:23837")  # DGN95 / Indonesia TM-3 zone 50.1: other datum, projection
    ex, ey = Transformer.from_crs(PRODUCER_CRS, "EPSG:23837", always_xy=True).transform(X[0], Y[0])
    assert abs(tm.x - X[0]) > 1_000.0  # really another CRS
    assert tm.x == pytest.approx(ex, abs=1e-3) and tm.y == pytest.approx(ey, abs=1e-3)
    # a pyproj CRS or a DEM (its .rio.crs) work as well
    from pyproj import CRS

    assert Inflow.from_netcdf(path, "B1", crs=CRS.from_epsg(32650)).y == pytest.approx(Y[0] - 10_000_000.0, abs=1e-6)
    dem = from_array(np.zeros((2, 2)), Affine(100.0, 0, 0.0, 0, -100.0, 0.0), "EPSG:32650", name="dem")
    assert Inflow.from_netcdf(path, "B1", crs=dem).y == pytest.approx(Y[0] - 10_000_000.0, abs=1e-6)
    # an explicit x/y is the caller's point in the model CRS: kept as given
    given = Inflow.from_netcdf(path, "B1", 1.0, 2.0, crs="EPSG:32650")
    assert (given.x, given.y) == (1.0, 2.0)


def test_unreadable_model_crs_and_unreachable_point_are_clear_errors(tmp_path):
    path = _exchange_file(tmp_path)
    with pytest.raises(InputDataError, match="model CRS"):
        Inflow.from_netcdf(path, "B1", crs="EPSG:999999")
    import rioxarray  # noqa: F401

    dem = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), coords={"y": [50.0, -50.0], "x": [50.0, 150.0]})  # no CRS
    with pytest.raises(InputDataError, match="has no CRS"):
        Inflow.from_netcdf(path, "B1", crs=dem)
    # a model CRS that cannot hold the point (the far side of an orthographic view): no inf/NaN entry point
    msg = r"B1\]: x/y \(480000, 9.85e\+06\) cannot be transformed from .*UTM zone 50S.* to 'unknown'"
    with pytest.raises(InputDataError, match=msg):
        Inflow.from_netcdf(path, "B1", crs="+proj=ortho +lat_0=60 +lon_0=-100 +ellps=WGS84")


def test_exchange_inflow_snaps_on_a_model_grid_in_another_crs(tmp_path):
    """A model grid in UTM 50N: the neighbour's UTM 50S point enters the right cell only once transformed."""
    n, dx = 20, 100.0
    x0n, y0n = _utm_north(X[0], Y[0])
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    # cell 5 of the row is centred on the border point
    fdir = from_array(fd, Affine(dx, 0, x0n - 5.5 * dx, 0, -dx, y0n + 0.5 * dx), "EPSG:32650", name="flow_direction")
    net = flow_network(fdir)
    z = (0.002 * dx * (n - np.arange(n))).reshape(1, n)
    path = _exchange_file(tmp_path)
    inflow = Inflow.from_netcdf(path, "B1", crs=fdir.rio.crs)
    rn = RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, inflows=[inflow], channel_mask=np.ones((1, n), bool))
    assert int(rn.order[rn.inflow_pos[0]]) == 5
    with pytest.raises(InputDataError, match="inflow 'B1'"):  # untransformed: 10 000 km off the grid
        RoutingNetwork.build(net, z, RoutingParameters(), 3600.0, inflows=[Inflow.from_netcdf(path, "B1")],
                             channel_mask=np.ones((1, n), bool))


def test_plain_dsg_xy_checked_against_lat_lon_in_the_model_crs(tmp_path):
    lon, lat = Transformer.from_crs(PRODUCER_CRS, "EPSG:4326", always_xy=True).transform(X[0], Y[0])
    q = np.ones(3)
    path = _plain_file(tmp_path, q=q, lat=[lat], lon=[lon], xy=(X[0], Y[0]))  # x/y in UTM 50S, CRS not stated
    ok = Inflow.from_netcdf(path, "border-1", crs=PRODUCER_CRS)
    assert (ok.x, ok.y) == (X[0], Y[0])
    with pytest.raises(InputDataError, match=r"x/y of station 'border-1'.*not in the model CRS"):
        Inflow.from_netcdf(path, "border-1", crs="EPSG:32650")
    # lat/lon only: the point is lat/lon transformed to the model CRS
    ll = _plain_file(tmp_path, "ll.nc", q=q, lat=[lat], lon=[lon])
    got = Inflow.from_netcdf(ll, "border-1", crs="EPSG:32650")
    assert got.x == pytest.approx(X[0], abs=1e-3) and got.y == pytest.approx(Y[0] - 10_000_000.0, abs=1e-3)
    with pytest.raises(InputDataError, match="no projected x/y"):
        Inflow.from_netcdf(ll, "border-1")  # without a model CRS lat/lon cannot be used


def test_plain_dsg_with_a_projected_grid_mapping_is_transformed_and_checked(tmp_path):
    from pyproj import CRS

    lon, lat = Transformer.from_crs(PRODUCER_CRS, "EPSG:4326", always_xy=True).transform(X[0], Y[0])

    def write(name, lat_, lon_):
        p = _plain_file(tmp_path, name, q=np.ones(3), lat=[lat_], lon=[lon_], xy=(X[0], Y[0]))
        with xr.open_dataset(p) as f:  # state the producer's projected CRS of x/y in the grid mapping
            ds = f.load()
        ds["crs"].attrs = {"crs_wkt": CRS.from_user_input(PRODUCER_CRS).to_wkt()}
        p.unlink()
        return write_netcdf(ds, p)

    good = Inflow.from_netcdf(write("good.nc", lat, lon), "border-1", crs="EPSG:32650")
    assert good.x == pytest.approx(X[0], abs=1e-6) and good.y == pytest.approx(Y[0] - 10_000_000.0, abs=1e-6)
    with pytest.raises(InputDataError, match="disagree by .* m .*wrong CRS"):
        Inflow.from_netcdf(write("bad.nc", lat + 0.1, lon), "border-1", crs="EPSG:32650")


def test_exchange_file_region_is_checked(tmp_path):
    path = _exchange_file(tmp_path)
    assert Inflow.from_netcdf(path, "B1", region="upland").name == "B1"
    with pytest.raises(InputDataError, match="issued by region 'upland'"):
        Inflow.from_netcdf(path, "B1", region="penajam")
    plain = _plain_file(tmp_path, q=np.ones(3), xy=(0.0, 0.0))
    with pytest.raises(InputDataError, match="not a hydro-exchange file.*'upland'"):
        Inflow.from_netcdf(plain, "border-1", region="upland")


def test_forecast_exchange_inflow_point_in_the_model_crs(tmp_path):
    """hydro run's [[exchange.inflows]]: the neighbour's UTM 50S border point is moved to a UTM 50N model grid."""
    from types import SimpleNamespace

    from hydro.forecast.hydrology import _exchange_inflow

    path = _exchange_file(tmp_path, members=[0, 1])
    spec = SimpleNamespace(point="B1", x=None, y=None, max_mb=5.0)
    same = _exchange_inflow(path, spec, model_crs=PRODUCER_CRS)
    assert (same.x, same.y) == (X[0], Y[0])
    moved = _exchange_inflow(path, spec, model_crs="EPSG:32650")
    assert moved.x == pytest.approx(X[0], abs=1e-6) and moved.y == pytest.approx(Y[0] - 10_000_000.0, abs=1e-6)
    # ensemble mean of members 0 and 1 at point B1: 5 + 0.25 t
    np.testing.assert_allclose(moved.discharge_m3s.values, 5.0 + 0.25 * np.arange(STEPS))
    given = _exchange_inflow(path, SimpleNamespace(point="B1", x=1.0, y=2.0, max_mb=5.0), model_crs="EPSG:32650")
    assert (given.x, given.y) == (1.0, 2.0)  # spec x/y are in the model CRS already


def test_run_catchment_inflow_member_choice(tmp_path):
    """``hydro run-catchment --inflow FILE:ID@MEMBER`` / ``@mean``: (path, id, member) tuples of run_catchment."""
    from hydro.model.runner import _inflow

    path = _exchange_file(tmp_path, members=[2, 0, 1])
    t = 0.25 * np.arange(STEPS)
    np.testing.assert_allclose(_inflow((path, "B2", "2"), PRODUCER_CRS).discharge_m3s.values, 21.0 + t)
    np.testing.assert_allclose(_inflow((path, "B2", "mean"), PRODUCER_CRS).discharge_m3s.values, 11.0 + t)
    with pytest.raises(InputDataError, match="realization"):
        _inflow((path, "B2"), PRODUCER_CRS)


@pytest.mark.parametrize("item", ["nofile", "ex.nc:B1@", "ex.nc:@2"])
def test_run_catchment_cli_refuses_a_malformed_inflow(tmp_path, item):
    from click.testing import CliRunner

    from hydro.cli import cli

    r = CliRunner().invoke(cli, ["run-catchment", str(tmp_path / "t.tif"), "--precipitation", str(tmp_path / "p.nc"),
                                 "--inflow", item, "--output-dir", str(tmp_path / "out")])
    assert r.exit_code != 0 and "FILE:STATION_ID[@MEMBER]" in r.output
    assert not (tmp_path / "out").exists()
