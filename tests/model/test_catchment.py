"""Coupled model: water balance, exact restart, state checks, outputs (DSG gauges, output step), bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import ConfigError, InputDataError, StateError
from hydro.model import BALANCE_TOLERANCE, CatchmentModel, Gauge, Inflow, Reservoir, RoutingParameters
from hydro.terrain import flow_network

START = pd.Timestamp("2026-01-10 00:00")


def _points(terrain):
    """Gauge, reservoir and inflow positions on the channel network of the test terrain."""
    net = flow_network(terrain["flow_direction"])
    up = net.upstream_area_m2()
    z = terrain["filled_elevation"].values.ravel()
    order = np.argsort(-up)
    biggest = int(order[0])
    mid = int(np.flatnonzero((up > 8e6) & (up < 2e7))[0])
    head = int(np.flatnonzero((up >= 3e6) & (up < 4e6))[-1])
    xy = lambda i: tuple(float(v) for v in net.xy(i))  # noqa: E731
    return net, {"outlet": xy(biggest), "mid": xy(mid), "head": xy(head), "z_mid": float(z[mid])}


def build(terrain, runoff_impl, *, params=None, with_works=True, dt="1h", routing=None):
    net, pts = _points(terrain)
    gauges = [Gauge("G-outlet", *pts["outlet"], name="main outlet"), Gauge("G-mid", *pts["mid"], name="tributary")]
    reservoirs, inflows = [], []
    if with_works:
        z0 = pts["z_mid"]
        reservoirs = [Reservoir("dam", *pts["mid"], level_m=[z0, z0 + 5, z0 + 10], storage_m3=[0.0, 1e6, 4e6],
                                area_m2=[1e5, 3e5, 5e5], crest_level_m=z0 + 4, initial_level_m=z0 + 3,
                                spillway_coef=1.7, spillway_length_m=8.0, abstraction_m3s=0.05)]
        times = pd.date_range(START - pd.Timedelta("1D"), START + pd.Timedelta("30D"), freq="3h")
        inflows = [Inflow("neighbour", *pts["head"], pd.Series(1.0 + 0.5 * np.sin(np.arange(len(times)) / 8.0), index=times))]
    return CatchmentModel(terrain, params if params is not None else runoff_impl.params(exchange=-0.05),
                          routing or RoutingParameters(channel_threshold_m2=3e6),
                          gauges=gauges, reservoirs=reservoirs, inflows=inflows, dt=dt, runoff_model=runoff_impl.model)


def test_water_balance_closes_every_step(terrain, runoff_impl, forcing):
    model = build(terrain, runoff_impl)
    P, E = forcing(START, 96)
    res = model.run(P, E, start=START, steps=96)
    wb = res.water_balance
    assert float(wb["precipitation_volume"].sum()) > 0
    assert float(wb["exchange_volume"].sum()) < 0  # X2 < 0: water lost to groundwater
    assert float(wb["abstraction_volume"].sum()) > 0 and float(wb["inflow_volume"].sum()) > 0
    assert float(wb["relative_residual"].max()) <= BALANCE_TOLERANCE
    assert res.summary["relative_residual"] <= BALANCE_TOLERANCE
    # recompute the balance from the terms (not the model's own residual)
    lhs = wb["precipitation_volume"] + wb["inflow_volume"] + wb["exchange_volume"]
    rhs = wb["evaporation_volume"] + wb["outflow_volume"] + wb["abstraction_volume"] + wb["storage_change"]
    assert float(np.max(np.abs(lhs - rhs) / np.maximum(lhs, rhs))) <= BALANCE_TOLERANCE
    # independent check of storage: total storage difference over the run
    assert res.summary["nonconverged_newton"] == 0


def test_restart_is_bit_for_bit(tmp_path, terrain, runoff_impl, forcing):
    """10 days in one run == 5 days + save_state + load_state (new model) + 5 days."""
    P, E = forcing(START, 240)
    full = build(terrain, runoff_impl)
    r_full = full.run(P, E, start=START, steps=240, output_step="6h", keep_peak=True)
    first = build(terrain, runoff_impl)
    first.run(P, E, start=START, steps=120, output_step="6h", keep_peak=True)
    state = first.save_state(tmp_path / "state_day5.nc")
    second = build(terrain, runoff_impl)
    second.load_state(state)
    assert second.valid_time == START + pd.Timedelta("5D")
    r_second = second.run(P, E, steps=120, output_step="6h", keep_peak=True)
    valid = full.valid  # cells off the network carry no water and are not part of the state
    for k in full.runoff.state:
        assert np.array_equal(full.runoff.state[k][valid], second.runoff.state[k][valid]), k
    assert np.array_equal(full.routing.q, second.routing.q)
    assert np.array_equal(full.routing.volume_m3, second.routing.volume_m3)
    assert np.array_equal(full.routing.reservoir_storage_m3, second.routing.reservoir_storage_m3)
    for v in ("discharge", "max_discharge", "runoff", "soil_moisture"):
        assert np.array_equal(r_full.gridded[v].values[20:], r_second.gridded[v].values, equal_nan=True), v
    assert np.array_equal(r_full.gauges["discharge"].values[:, 20:], r_second.gauges["discharge"].values)
    # the state file holds float64 and the documented variables and attributes, CF-compliant
    from hydro.testing import assert_cf_compliant

    assert_cf_compliant(state)
    with xr.open_dataset(state) as ds:
        for v in ("interception_store", "production_store", "routing_store", "channel_discharge", "channel_water_volume",
                  "reservoir_storage"):
            assert ds[v].dtype == np.float64
        assert ds.attrs["hydro_state_valid_time"] == "2026-01-15T00:00:00Z"
        assert ds.attrs["hydro_flow_network_hash"] == full.network.hash


def test_state_from_another_grid_or_parameter_set_is_refused(tmp_path, terrain, runoff_impl, forcing):
    P, E = forcing(START, 6)
    model = build(terrain, runoff_impl)
    model.run(P, E, start=START, steps=6)
    path = model.save_state(tmp_path / "state.nc")
    other_params = build(terrain, runoff_impl, params=runoff_impl.params(capacity=150.0, exchange=-0.05))
    with pytest.raises(StateError, match="hydro_parameter_hash.*runoff parameter set"):
        other_params.load_state(path)
    other_routing = build(terrain, runoff_impl, routing=RoutingParameters(channel_threshold_m2=3e6, manning_n_channel=0.05))
    with pytest.raises(StateError, match="routing"):
        other_routing.load_state(path)
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    coarse = analyse(balikpapan_dem(resolution_m=900.0), stream_threshold_m2=3.0e6)
    other_grid = build(coarse, runoff_impl, with_works=False)
    with pytest.raises(StateError, match="grid"):
        other_grid.load_state(path)
    before = {k: v.copy() for k, v in other_params.runoff.state.items()}
    assert other_params.valid_time is None and all(np.array_equal(before[k], other_params.runoff.state[k]) for k in before)
    with pytest.raises(StateError, match="no valid time"):
        build(terrain, runoff_impl).save_state(tmp_path / "never.nc")
    assert not (tmp_path / "never.nc").exists()


def test_gauge_file_is_a_cf_dsg_timeseries(tmp_path, terrain, runoff_impl, forcing):
    from hydro.testing import assert_cf_compliant

    P, E = forcing(START, 24)
    res = build(terrain, runoff_impl).run(P, E, start=START, steps=24, output_step="3h", keep_peak=True)
    paths = res.write(tmp_path, prefix="test")
    assert_cf_compliant(paths["gauges"])
    with xr.open_dataset(paths["gauges"]) as ds:
        assert ds.attrs["featureType"] == "timeSeries"
        assert ds["station_id"].attrs["cf_role"] == "timeseries_id"
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in ds["station_id"].values]
        assert ids == ["G-outlet", "G-mid"]
        assert ds["discharge"].attrs["units"] == "m3 s-1"
        assert ds["discharge"].attrs["standard_name"] == "water_volume_transport_in_river_channel"
        np.testing.assert_allclose(ds["discharge"].values, res.gauges["discharge"].values, rtol=1e-6)
        assert ds.sizes["time"] == 8
        assert np.all(ds["max_discharge"].values >= ds["discharge"].values * (1 - 1e-6))
        # the gauge cells' x/y are in the model CRS, which the file names (it carries WGS 84 for lat/lon only)
        from pyproj import CRS

        assert CRS.from_wkt(ds.attrs["hydro_model_crs"]) == CRS.from_wkt(terrain.rio.crs.to_wkt())
        assert ds["x"].attrs["units"] == "m" and "hydro_model_crs" in ds["x"].attrs["long_name"]
    assert_cf_compliant(paths["gridded"])
    with xr.open_dataset(paths["gridded"]) as ds:  # the sub-step of each cell type is stated
        assert "on channel cells" in ds["max_discharge"].attrs["comment"]
        assert "on overland cells" in ds["max_discharge"].attrs["comment"]
    assert_cf_compliant(paths["water_balance"])
    assert_cf_compliant(paths["reservoirs"])
    # reservoir series: storage change = (inflow - outflow - evaporation - abstraction) x time
    r = res.reservoirs
    assert r["reservoir_inflow"].attrs["units"] == "m3 s-1"
    net = (r["reservoir_inflow"] - r["reservoir_outflow"] - r["reservoir_evaporation"] - r["reservoir_abstraction"]) * 3 * 3600.0
    ds_storage = r["reservoir_volume"].values[0]
    np.testing.assert_allclose(np.diff(ds_storage), net.values[0][1:], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(r["reservoir_abstraction"].values, 0.05, rtol=1e-12)


def test_output_step_mean_sum_and_peak(terrain, runoff_impl, forcing):
    P, E = forcing(START, 48)
    hourly = build(terrain, runoff_impl).run(P, E, start=START, steps=48, keep_peak=True)
    six = build(terrain, runoff_impl).run(P, E, start=START, steps=48, output_step="6h", keep_peak=True)
    g1, g6 = hourly.gridded, six.gridded
    assert g6.sizes["time"] == 8
    assert list(pd.DatetimeIndex(g6.time.values)) == list(pd.date_range(START + pd.Timedelta("6h"), periods=8, freq="6h"))
    q1 = g1["discharge"].values.astype(np.float64).reshape(8, 6, *g1["discharge"].shape[1:])
    np.testing.assert_allclose(g6["discharge"].values, q1.mean(axis=1), rtol=1e-5, atol=1e-9)
    m1 = g1["max_discharge"].values.reshape(8, 6, *g1["discharge"].shape[1:]).max(axis=1)
    np.testing.assert_array_equal(g6["max_discharge"].values, m1)
    r1 = g1["runoff"].values.astype(np.float64).reshape(8, 6, *g1["runoff"].shape[1:]).sum(axis=1)
    np.testing.assert_allclose(g6["runoff"].values, r1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(g6["soil_moisture"].values, g1["soil_moisture"].values[5::6])
    # the peak is kept: within an output step the maximum exceeds the mean where the flood rises
    valid = np.isfinite(g6["discharge"].values)
    assert np.all(g6["max_discharge"].values[valid] >= g6["discharge"].values[valid] * (1 - 1e-6))
    assert np.any(g6["max_discharge"].values[valid] > 1.05 * g6["discharge"].values[valid])
    assert g6["discharge"].attrs["cell_methods"] == "time: mean (interval: 1 hour)"
    assert g6["max_discharge"].attrs["cell_methods"].startswith("time: maximum")
    np.testing.assert_array_equal(g6["time_bnds"].values[:, 1], g6["time"].values)


def _bad(P, **changes):
    return P.assign_coords(**changes) if changes else P


@pytest.mark.parametrize("case", ["domain", "period", "duplicate", "unsorted", "gap", "grid", "units"])
def test_bad_forcing_is_a_clear_error_and_changes_nothing(tmp_path, terrain, runoff_impl, forcing, case):
    P, E = forcing(START, 12)
    P.encoding["source"] = str(tmp_path / "rain.nc")
    model = build(terrain, runoff_impl)
    before = {k: v.copy() for k, v in model.runoff.state.items()}
    q_before = model.routing.q.copy()
    if case == "domain":
        valid = terrain["flow_direction"].values != 255
        iy, ix = np.argwhere(valid)[len(np.argwhere(valid)) // 2]
        P = P.copy()
        P[7, iy, ix] = np.nan
        match = "rain.nc:precipitation.*does not cover the domain"
    elif case == "period":
        P = P.isel(time=slice(0, 10))
        match = "rain.nc:precipitation: covers"
    elif case == "duplicate":
        t = P.time.values.copy()
        t[4] = t[3]
        P = P.assign_coords(time=t)
        match = "duplicate times"
    elif case == "unsorted":
        P = P.isel(time=[0, 1, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11])
        match = "not sorted"
    elif case == "gap":
        P = P.drop_isel(time=5)
        match = "gap"
    elif case == "grid":
        P = P.assign_coords(x=P.x.values + 500.0)
        match = "x coordinates differ"
    else:
        P.attrs["units"] = "mm h-1 s"
        match = "units"
    P.encoding["source"] = str(tmp_path / "rain.nc")
    with pytest.raises(InputDataError, match=match):
        model.run(P, E, start=START, steps=12)
    assert model.valid_time is None
    assert all(np.array_equal(before[k], model.runoff.state[k]) for k in before)
    assert np.array_equal(q_before, model.routing.q)
    assert list(tmp_path.iterdir()) == []


def test_run_arguments_are_checked(terrain, runoff_impl, forcing):
    P, E = forcing(START, 12)
    model = build(terrain, runoff_impl, with_works=False)
    with pytest.raises(ConfigError, match="multiple"):
        model.run(P, E, start=START, steps=12, output_step="90min")
    with pytest.raises(ConfigError, match="start is required"):
        model.run(P, E, steps=12)
    model.run(P, E, start=START, steps=6)
    with pytest.raises(StateError, match="valid at"):
        model.run(P, E, start=START, steps=6)
    res = model.run(P, 0.1, steps=6, gridded=())
    assert res.gridded is None and res.gauges.sizes["time"] == 6


def test_abstraction_hook_sees_start_of_step_storage(terrain, runoff_impl, forcing):
    """The allocation hook: f(step_start, step_end, storage) is called once per step with the
    storage at the start of the step, and its abstraction leaves the reservoir."""
    P, E = forcing(START, 12)
    model = build(terrain, runoff_impl)
    seen = []

    def hook(t0, t1, storage):
        seen.append((t0, t1, storage))
        return 0.2

    res = model.run(P, E, start=START, steps=12, abstraction={"dam": hook})
    assert [s[0] for s in seen] == list(pd.date_range(START, periods=12, freq="h"))
    vol = res.reservoirs["reservoir_volume"].values[0]
    np.testing.assert_allclose([s[2] for s in seen[1:]], vol[:-1], rtol=0, atol=0)
    np.testing.assert_allclose(res.reservoirs["reservoir_abstraction"].values, 0.2, rtol=1e-12)
    assert float(res.water_balance["abstraction_volume"].sum()) == pytest.approx(0.2 * 3600 * 12, rel=1e-12)
    with pytest.raises(ConfigError, match="unknown reservoirs"):
        model.run(P, E, steps=1, abstraction={"nope": 1.0})


def test_model_from_a_dem_analyses_it(runoff_impl, forcing, terrain):
    from hydro.datasets import balikpapan_dem

    dem = balikpapan_dem(resolution_m=1000.0)
    model = CatchmentModel(dem, runoff_impl.params(), RoutingParameters(channel_threshold_m2=3e6), runoff_model=runoff_impl.model)
    np.testing.assert_array_equal(model.terrain["flow_direction"].values, terrain["flow_direction"].values)
    P, E = forcing(START, 3)
    res = model.run(P, E, start=START, steps=3)
    assert res.gauges is None and res.summary["max_step_relative_residual"] <= BALANCE_TOLERANCE


def test_gridded_output_reads_back_georeferenced(tmp_path, terrain, runoff_impl, forcing):
    """CF gate + georeferencing read-back (rioxarray and GDAL: CRS, transform, pixel values)."""
    from hydro.testing import assert_georeferenced

    P, E = forcing(START, 3)
    res = build(terrain, runoff_impl, with_works=False).run(P, E, start=START, steps=3, output_step="3h",
                                                           gridded=("discharge",))
    paths = res.write(tmp_path, prefix="geo")
    expected = res.gridded["discharge"].isel(time=0)
    expected = expected.rio.write_crs(terrain.rio.crs).rio.write_transform(terrain.rio.transform())
    assert_georeferenced(paths["gridded"], "discharge", expected)
