"""DSG outputs (round trip through the shared writer), metrics, determinism and dask scenarios."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from alloc_helpers import make_net, series
from hydro.allocation import allocate, load_network, run_scenarios, supply_metrics


def _net(steps=6):
    return make_net(
        [{"id": "river", "type": "intake", "inflow": {"external": "river_q", "units": "m3/s"}},
         {"id": "dam", "type": "reservoir", "capacity": "100000 m3", "initial_storage": "50000 m3",
          "inflow": series([0.2] * steps)},
         {"id": "hub", "type": "junction"},
         {"id": "A", "type": "demand", "region": "a", "demand": "0.8 m3/s", "priority": 1},
         {"id": "B", "type": "demand", "region": "b", "demand": "0.6 m3/s", "priority": 2},
         {"id": "sea", "type": "outlet"}],
        [{"id": "rh", "from": "river", "to": "hub"}, {"id": "dh", "from": "dam", "to": "hub", "capacity": "0.5 m3/s"},
         {"id": "ha", "from": "hub", "to": "A"}, {"id": "hb", "from": "hub", "to": "B", "loss_fraction": 0.1},
         {"id": "hs", "from": "hub", "to": "sea"}],
        [{"type": "min_flow", "name": "eflow", "link": "hs", "flow": "0.1 m3/s"},
         {"type": "licence", "name": "lic", "party": "b", "demands": ["B"], "volume": "150000 m3"}],
        steps=steps)


def test_external_inflow_as_dataarray_and_netcdf_round_trip(tmp_path):
    times = pd.date_range("2024-01-01", periods=6 * 24, freq="h")
    q = xr.DataArray(np.linspace(0.2, 1.5, times.size), dims="time", coords={"time": times},
                     attrs={"units": "m3 s-1"})  # hourly routed discharge, averaged to daily steps
    res = allocate(load_network(_net()), {"river_q": q})
    files = res.write(tmp_path / "run", id="test-run")
    ds = xr.open_dataset(tmp_path / "run_demand.nc")
    ids = [x.decode() if isinstance(x, bytes) else str(x) for x in ds["demand_id"].values]
    assert ids == ["A", "B"]
    assert ds["demand_id"].attrs["cf_role"] == "timeseries_id"
    assert ds.attrs["featureType"] == "timeSeries"
    np.testing.assert_allclose(ds["delivery"].values, res.delivered.T / res.dt, rtol=1e-6)
    np.testing.assert_allclose(ds["shortfall"].values, res.shortfall.T / res.dt, rtol=1e-6, atol=1e-9)
    assert ds["delivery"].attrs["units"] == "m3 s-1"
    assert "metric_a_reliability_time" in ds.attrs
    lk = xr.open_dataset(tmp_path / "run_link.nc")
    np.testing.assert_allclose(lk["link_flow"].values, res.flow.T / res.dt, rtol=1e-6, atol=1e-9)
    rs = xr.open_dataset(tmp_path / "run_reservoir.nc")
    np.testing.assert_allclose(rs["reservoir_volume"].values[0], res.storage[:, 0], rtol=1e-9)
    acc = xr.open_dataset(tmp_path / "run_account.nc")
    aid = [x.decode() if isinstance(x, bytes) else str(x) for x in acc["account_id"].values]
    assert "lic:licence_used" in aid
    reg = xr.open_dataset(tmp_path / "run_region.nc")
    assert reg.sizes["region"] == 3
    for d in (ds, lk, rs, acc, reg):
        d.close()
    assert len(files) == 9  # 5 NetCDF + metrics, explanations, delivery by source, balance
    # daily mean of the hourly series is what the intake received
    hourly = q.values.reshape(6, 24).mean(axis=1)
    np.testing.assert_allclose(res.flow[:, 0] / res.dt + res.unused[:, 0] / res.dt, hourly, rtol=1e-9)


def test_deterministic_reruns():
    net = load_network(_net())
    a = allocate(net, {"river_q": np.full(6, 0.7)})
    b = allocate(net, {"river_q": np.full(6, 0.7)})
    assert np.array_equal(a.delivered, b.delivered) and np.array_equal(a.flow, b.flow)
    assert np.array_equal(a.storage, b.storage)


def test_run_scenarios_with_dask_equals_sequential():
    net = load_network(_net())
    scen = {f"m{i}": {"river_q": np.full(6, 0.3 + 0.3 * i)} for i in range(4)}
    par = run_scenarios(net, scen, scheduler="threads")
    assert list(par) == list(scen)
    for name, inf in scen.items():
        seq = allocate(net, inf, explain=False)
        np.testing.assert_array_equal(par[name].delivered, seq.delivered)
        np.testing.assert_array_equal(par[name].storage, seq.storage)
    # drier members deliver less
    tot = [par[n].delivered.sum() for n in scen]
    assert tot == sorted(tot)


def test_metrics_hand_computed():
    D = np.array([[10.0, 10, 10, 10, 10]])
    x = np.array([[10.0, 5, 5, 10, 8]])
    m = supply_metrics(D, x, ["a"]).loc["a"]
    assert m.reliability_time == pytest.approx(2 / 5)
    assert m.reliability_volume == pytest.approx(38 / 50)
    assert m.vulnerability == pytest.approx((0.5 + 0.5 + 0.2) / 3)
    # one recovery (day 3 -> 4) over the 2 failure steps that have a next step (day 5's failure cannot have
    # recovered yet; it counted as "never recovered": 1/3)
    assert m.resilience == pytest.approx(1 / 2)
    assert m.failure_events == 2 and m.max_failure_duration == 2


def test_explanations_cover_every_shortfall():
    res = allocate(load_network(_net()), {"river_q": np.full(6, 0.3)})
    ex = res.explanations
    short = {(t, d) for t, row in zip(res.times, res.shortfall) for d, s in zip(res.demand_ids, row) if s > 1e-3}
    got = {(t, d) for t, d in zip(ex.time, ex.instance)}
    assert short <= got
    assert ex.reason.isin(["source_empty", "pipe_full", "agreement_cap", "higher_priority", "drought_tier",
                           "shared_shortage", "not_claimed"]).all()


def test_cf_compliance_of_written_files(tmp_path):
    pytest.importorskip("compliance_checker")
    import shutil
    import subprocess

    exe = shutil.which("compliance-checker")
    if exe is None:
        pytest.skip("compliance-checker executable not on PATH")
    res = allocate(load_network(_net()), {"river_q": np.full(6, 0.4)})
    res.write(tmp_path / "cc")
    for kind in ("demand", "link", "account", "region", "reservoir"):
        out = subprocess.run([exe, "-c", "strict", "-t", "cf:1.11",
                              str(tmp_path / f"cc_{kind}.nc")], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:]


@pytest.mark.parametrize("x,want", [([0.0, 10.0, 0.0], 1.0), ([10.0, 10.0, 0.0], float("nan")),
                                    ([10.0, 10.0, 10.0], 1.0), ([0.0, 0.0, 10.0], 0.5), ([0.0], float("nan"))])
def test_resilience_counts_only_failures_that_could_recover(x, want):
    """F S F: the one failure with a next step recovered (1.0, was 0.5); S S F: nothing to judge yet (NaN, was 0);
    no failure: 1; F F S: one recovery over two chances."""
    m = supply_metrics(np.full((1, len(x)), 10.0), np.array([x]), ["a"]).loc["a"]
    if np.isnan(want):
        assert np.isnan(m.resilience)
    else:
        assert m.resilience == pytest.approx(want)


def test_metrics_refuse_missing_values():
    from hydro.errors import InputDataError

    with pytest.raises(InputDataError, match="NaN"):
        supply_metrics(np.array([[10.0, np.nan, 10.0]]), np.array([[10.0, 5.0, 5.0]]), ["a"])


def test_region_ids_with_hyphens_keep_the_files_cf_compliant(tmp_path):
    """A region "kutai-kartanegara" made the metric attribute names invalid CF (the demand and region files failed
    the compliance check)."""
    from hydro.testing import assert_cf_compliant
    from alloc_helpers import dem, intake, link

    net = make_net([intake("src", "1 m3/s"), dem("A", "kutai-kartanegara", "2 m3/s")], [link("l", "src", "A")],
                   regions=("kutai-kartanegara",), steps=3)
    res = allocate(load_network(net))
    files = res.write(tmp_path / "h")
    for f in files:
        if str(f).endswith(".nc"):
            assert_cf_compliant(f)
    import netCDF4

    with netCDF4.Dataset(tmp_path / "h_demand.nc") as nc:
        assert nc.getncattr("metric_kutai_kartanegara_reliability_time") == pytest.approx(0.0)
        assert "kutai-kartanegara" in nc.getncattr("hydro_supply_metrics")


def test_external_period_means_labelled_at_their_end_are_read_as_such():
    """A series as read_exchange returns it (3-h means labelled at the period end, cell_methods 'time: mean',
    period_s): the hourly steps 03-06 take the 03-06 mean (2.0), 06-09 the next (3.0). They took the mean of the
    period starting at the label (one period late)."""
    from alloc_helpers import dem, intake, link

    t = pd.date_range("2024-01-01 03:00", periods=3, freq="3h")
    q = xr.DataArray([1.0, 2.0, 3.0], dims="time", coords={"time": t},
                     attrs={"units": "m3/s", "cell_methods": "time: mean", "period_s": 10800.0})
    net = make_net([intake("src", {"external": "x"}), dem("A", "a", "100 m3/s")], [link("l", "src", "A")],
                   steps=6, start="2024-01-01T03:00", timestep="1h")
    res = allocate(load_network(net), {"x": q})
    np.testing.assert_allclose(res.delivered[:, 0] / 3600.0, [2.0, 2.0, 2.0, 3.0, 3.0, 3.0], rtol=1e-12)
    # the same values as a pandas Series with the same attributes
    s = q.to_series()
    s.attrs = dict(q.attrs)
    res2 = allocate(load_network(net), {"x": s})
    np.testing.assert_allclose(res2.delivered[:, 0] / 3600.0, [2.0, 2.0, 2.0, 3.0, 3.0, 3.0], rtol=1e-12)
