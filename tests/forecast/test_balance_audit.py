"""Water is data: every process of `hydro run` reports a closed mass balance, recomputed here from the written files.

One event run of the small project (150 m DEM) with the 2-D flood, HAND, allocation and the report switched on.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.config import load_config
from hydro.forecast.pipeline import (BALANCE_TOLERANCE, _transfer, balance_alert, conservative_hydrograph,
                                     run_model, summarise_balances)
from tests.forecast.conftest import make_project

PROCESSES = {"runoff_routing", "runoff_generation", "routing", "flood_2d", "allocation"}


@pytest.fixture(scope="module")
def event_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("balance")
    path = make_project(root / "p", allocation=True, report=True)
    text = path.read_text().replace("[flood]\nenabled = false", "[flood]\nenabled = true")
    path.write_text(text)
    return run_model(load_config(path), output_root=root / "out")


@pytest.fixture(scope="module")
def wb(event_run):
    return event_run.manifest["facts"]["water_balance"]


def _total(ds: xr.Dataset, name: str) -> float:
    return float(ds[name].values.astype(np.float64).sum())


def test_every_process_reports_terms_in_m3_and_a_closed_residual(event_run, wb):
    assert wb["units"] == "m3" and wb["tolerance"] == BALANCE_TOLERANCE
    assert set(wb["processes"]) == PROCESSES
    for name, m in wb["processes"].items():
        assert m["units"] == "m3", name
        assert m["inputs"] and m["outputs"], name
        assert m["total_in"] == pytest.approx(sum(m["inputs"].values()), rel=1e-12)
        assert m["total_out"] == pytest.approx(sum(m["outputs"].values()), rel=1e-12)
        resid = m["total_in"] - m["total_out"] - m["storage_change"]
        assert resid == pytest.approx(m["residual"], abs=1e-6 * max(m["total_in"], 1.0))
        assert m["relative_residual"] <= 1e-9 and m.get("stated_max_relative_residual", 0.0) <= 1e-9, name
        assert m["closed"] is True, name
    assert "hand" in wb["not_applicable"]
    assert wb["closed"] is True and wb["not_closed"] == [] and wb["relative_residual"] <= 1e-9
    assert event_run.manifest["water_balance_closed"] is True
    # the same summary in the run folder, listed as an output
    assert json.loads((event_run.run_dir / "water_balance.json").read_text()) == wb
    assert "water_balance" in event_run.manifest["outputs"]
    alerts = json.loads((event_run.run_dir / "alerts.json").read_text())["alerts"]
    assert not [a for a in alerts if a["type"] == "water_balance"]


def test_runoff_and_routing_balance_recomputed_from_the_balance_file(event_run, wb):
    with xr.open_dataset(event_run.run_dir / "runoff" / "run_water_balance.nc") as ds:
        for v in ("precipitation_volume", "outflow_volume", "evaporation_volume", "storage_change", "residual"):
            assert ds[v].attrs["units"] == "m3"
        p, e = _total(ds, "precipitation_volume"), _total(ds, "evaporation_volume")
        q, i, x = _total(ds, "outflow_volume"), _total(ds, "inflow_volume"), _total(ds, "exchange_volume")
        a, ds_ = _total(ds, "abstraction_volume"), _total(ds, "storage_change")
        step_res = (ds["precipitation_volume"] + ds["inflow_volume"] + ds["exchange_volume"] - ds["evaporation_volume"]
                    - ds["outflow_volume"] - ds["abstraction_volume"] - ds["storage_change"]).values
        assert np.abs(step_res).max() <= 1e-9 * p
    dom = wb["processes"]["runoff_routing"]
    assert dom["inputs"]["precipitation"] == pytest.approx(p, rel=1e-12)
    assert dom["outputs"]["outflow_at_outlets"] == pytest.approx(q, rel=1e-12)
    assert dom["storage_change"] == pytest.approx(ds_, rel=1e-12)
    assert abs(p + i + x - e - q - a - ds_) <= 1e-9 * p
    # design storm: 140 mm on every valid cell
    storm_mm = event_run.manifest["config"]["forcing"]["storm_total_mm"]
    with xr.open_dataset(event_run.run_dir / "terrain.nc") as terr:
        elev = terr["elevation"] if "elevation" in terr else terr["filled_elevation"]
        n_valid = int(np.isfinite(elev.values).sum())
    res = event_run.manifest["config"]["dem"]["resolution_m"]
    assert p == pytest.approx(storm_mm / 1000.0 * n_valid * res * res, rel=2e-2)  # UTM cells ~ res² (scale factor)
    # the split: cells hand to the routing exactly what the routing receives; together they are the domain
    gen, rout = wb["processes"]["runoff_generation"], wb["processes"]["routing"]
    assert gen["outputs"]["runoff_to_routing"] == rout["inputs"]["runoff_from_cells"] > 0
    assert gen["inputs"]["precipitation"] == pytest.approx(p, rel=1e-12)
    assert gen["storage_change"] + rout["storage_change"] == pytest.approx(ds_, rel=1e-9)
    assert rout["outputs"]["outflow_at_outlets"] == pytest.approx(q, rel=1e-12)
    # outflow at the outlets is at least what passes the outlet gauges that are network outlets of their own
    with xr.open_dataset(event_run.run_dir / "runoff" / "run_gauges.nc") as g:
        ids = [str(s) for s in g["station_id"].values]
        vol = g["discharge"].values.astype(np.float64).sum(axis=1) * 3600.0
    assert vol[ids.index("ampal_outlet")] + vol[ids.index("sepinggan_outlet")] < q


def test_2d_flood_balance_recomputed_from_plain_flood_nc(event_run, wb):
    fl = wb["processes"]["flood_2d"]
    with xr.open_dataset(event_run.run_dir / "flood" / "plain_flood.nc") as ds:
        b = pd.DataFrame({k[len("volume_"):]: ds[k].values.astype(np.float64) for k in ds.data_vars
                          if k.startswith("volume_") and ds[k].ndim == 1})
        assert all(ds[k].attrs["units"] == ("1" if k == "volume_relative_residual" else "m3")
                   for k in ds.data_vars if k.startswith("volume_"))
        v0 = float(ds["volume_initial_storage"])  # written by the module since the audit
    assert v0 == pytest.approx(fl["initial_storage"], rel=1e-12, abs=1e-9)
    net = b["rain"] - b["infiltration"] + b["point_inflow"] + b["boundary_inflow"] - b["boundary_outflow"] + b["clipped"]
    resid = b["storage"] - v0 - net
    scale = max(v0, b["storage"].max(), (b["rain"] + b["point_inflow"] + b["boundary_inflow"]).max())
    assert np.abs(resid).max() / scale <= 1e-9
    assert np.abs(resid - b["residual"]).max() <= 1e-9 * scale
    assert fl["inputs"]["rain"] == pytest.approx(b["rain"].iloc[-1], rel=1e-12)
    assert fl["inputs"]["river_inflows"] == pytest.approx(b["point_inflow"].iloc[-1], rel=1e-12)
    assert fl["outputs"]["boundary_outflow"] == pytest.approx(b["boundary_outflow"].iloc[-1], rel=1e-12)
    assert fl["final_storage"] == pytest.approx(b["storage"].iloc[-1], rel=1e-12)
    assert fl["inputs"]["river_inflows"] > 0 and fl["inputs"]["rain"] > 0


def test_routed_river_volume_enters_the_2d_domain_unchanged(event_run, wb):
    """The river hydrograph handed to the 2-D run carries the routed volume (was −0.2 % with midpoint knots)."""
    cfg = event_run.manifest["config"]
    t0 = pd.Timestamp(cfg["forcing"]["start"])
    t1 = t0 + pd.Timedelta(hours=cfg["flood"]["duration_h"])
    with xr.open_dataset(event_run.run_dir / "runoff" / "run_gauges.nc") as g:
        ids = [str(s) for s in g["station_id"].values]
        ends = pd.DatetimeIndex(g["time"].values)
        sent = 0.0
        for k, sid in enumerate(ids):
            if sid.startswith("flood_crossing_"):
                q = g["discharge"].isel(station=k).values.astype(np.float64)
                sent += float(q[(ends > t0) & (ends <= t1)].sum() * 3600.0)
    with xr.open_dataset(event_run.run_dir / "flood" / "plain_flood.nc") as ds:
        received = float(ds["volume_point_inflow"].values[-1])
    assert received == pytest.approx(sent, rel=1e-6)  # float32 discharge in the gauge file
    tr = wb["transfers"]["routing_to_flood_2d"]
    assert tr["closed"] and tr["received"] == pytest.approx(received, rel=1e-12)
    assert tr["sent"] == pytest.approx(sent, rel=1e-6)


def test_allocation_balance_recomputed_from_the_allocation_files(event_run, wb):
    al = wb["processes"]["allocation"]
    d = event_run.run_dir / "allocation"
    with xr.open_dataset(d / "water_demand.nc") as dem, xr.open_dataset(d / "water_link.nc") as lk, \
            xr.open_dataset(d / "water_reservoir.nc") as rs:
        dt = (pd.Timestamp(dem["time"].values[0]) - pd.Timestamp(dem["time_bnds"].values[0, 0])).total_seconds()
        delivered = _total(dem, "delivery") * dt
        losses = _total(lk, "conveyance_loss") * dt
        evap = _total(rs, "reservoir_evaporation") * dt
        spill = _total(rs, "reservoir_spill") * dt
        s_end = float(rs["reservoir_volume"].values[:, -1].astype(np.float64).sum())
        s0 = float(rs["initial_volume"].values.astype(np.float64).sum())
        assert np.abs(rs.attrs["hydro_mass_balance_max_abs_residual_m3"]) <= 1e-6
    table = pd.read_csv(d / "water_balance.csv")
    assert al["delivered_gross"] == pytest.approx(delivered, rel=1e-9)
    assert al["outputs"]["conveyance_losses"] == pytest.approx(losses, rel=1e-9)
    assert al["outputs"]["reservoir_evaporation"] == pytest.approx(evap, rel=1e-9)
    assert al["outputs"]["spills"] <= spill + 1e-6
    assert 0.0 < al["outputs"]["consumed_deliveries"] <= delivered * (1 + 1e-12)
    assert al["outputs"]["consumed_deliveries"] == pytest.approx(table["consumed"].sum(), rel=1e-12)
    assert al["inputs"]["source_inflows"] == pytest.approx(table["exogenous_inflow"].sum(), rel=1e-12)
    # the reservoir file alone: initial volume + storage change = end volume
    assert s0 == pytest.approx(al["initial_storage"], rel=1e-12) and s0 > 0
    assert s_end == pytest.approx(s0 + al["reservoir_storage_change"], rel=1e-9)
    resid = al["total_in"] - al["total_out"] - al["storage_change"]
    assert abs(resid) <= 1e-9 * al["total_in"]


def test_routed_inflow_reaches_the_allocation_network_unchanged(event_run, wb):
    cfg = event_run.manifest["config"]
    (node, gid), = cfg["allocation"]["simulated_inflows"].items()
    tr = wb["transfers"][f"routing_to_allocation_{node}"]
    with xr.open_dataset(event_run.run_dir / "runoff" / "run_gauges.nc") as g:
        ids = [str(s) for s in g["station_id"].values]
        vol = float(g["discharge"].isel(station=ids.index(gid)).values.astype(np.float64).sum() * 3600.0)
    assert tr["closed"] and tr["sent"] == pytest.approx(vol, rel=1e-6)
    assert tr["received"] == pytest.approx(tr["sent"], rel=1e-9)


def test_report_shows_the_water_balance(event_run):
    page = (event_run.run_dir / "report.html").read_text()
    assert 'id="water-balance"' in page and "All balances close" in page
    for label in ("Runoff generation", "Routing", "2-D flood", "Allocation"):
        assert label in page


# ------------------------------------------------------------------ a balance that does not close is flagged
def test_an_open_balance_is_an_alert_and_shows_in_the_report(tmp_path):
    from hydro.forecast.pipeline import _closure
    from hydro.report import write_report

    leaky = _closure({"rain": 1000.0}, {"outflow": 900.0}, 99.0)  # 1 m3 lost: relative 1e-3
    assert not leaky["closed"] and leaky["residual"] == pytest.approx(1.0)
    wb = summarise_balances({"flood_2d": leaky, "routing": _closure({"a": 5.0}, {"b": 5.0}, 0.0)},
                            {"routing_to_flood_2d": _transfer(100.0, 99.0, "river")})
    assert wb["closed"] is False
    assert wb["not_closed"] == ["process flood_2d", "transfer routing_to_flood_2d"]
    (alert,) = balance_alert(wb)
    assert alert["type"] == "water_balance" and alert["level"] == 2
    assert "flood_2d" in alert["message"] and "routing_to_flood_2d" in alert["message"]
    assert balance_alert(summarise_balances({"routing": _closure({"a": 5.0}, {"b": 5.0}, 0.0)})) == []
    out = write_report(tmp_path, title="t", run_id="r", key_numbers={}, figures=[], alerts=[alert], files=[],
                       water_balance=wb)
    page = out.read_text()
    assert "does NOT close" in page and "RED" in page


def test_nan_residual_is_not_closed():
    from hydro.forecast.pipeline import _closure

    assert _closure({"a": float("nan")}, {}, 0.0)["closed"] is False


def test_conservative_hydrograph_keeps_each_period_volume():
    t = pd.date_range("2025-08-25T01:00", periods=8, freq="1h")
    q = xr.DataArray([0.0, 0.01, 5.0, 80.0, 120.0, 60.0, 20.0, 19.0], dims="time", coords={"time": t})
    s = conservative_hydrograph(q, pd.Timedelta("1h"), pd.Timestamp("2025-08-25T00:00"))
    assert float(s.min()) >= 0.0
    sec = (pd.DatetimeIndex(s["time"].values) - pd.Timestamp("2025-08-25T00:00")).total_seconds().to_numpy()
    for k in range(8):
        grid = np.union1d(sec[(sec >= k * 3600) & (sec <= (k + 1) * 3600)], [k * 3600.0, (k + 1) * 3600.0])
        vol = np.trapezoid(np.interp(grid, sec, s.values), grid)
        assert vol == pytest.approx(q.values[k] * 3600.0, rel=1e-12, abs=1e-9)
