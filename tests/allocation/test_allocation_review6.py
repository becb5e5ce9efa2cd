"""Review 6 regression tests (inputs into an allocation run, scenarios, outputs): tiny networks, hand-derived values.

1. a ``monthly`` profile is a sequence of calendar-month means: a step across a month boundary is time-weighted,
2. scenarios on dask threads: every member runs with its own agreement series (min_flow from an external series),
3. scenarios whose inputs hash alike (same numbers, different units) are separate runs,
4. NaN / infinite values written in the network file or given at run time are refused,
5. date-times with a UTC offset at midnight keep the offset (dict networks, strings), CSV stamps with two offsets,
6. write(): every table is built before the first file (nothing on disk after a failure), and source tracing handles
   a demand's return flow back to the junction that feeds it.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hydro

sys.path.insert(0, str(Path(hydro.__file__).resolve().parents[1] / "tests" / "allocation"))
from alloc_helpers import DAY, dem, intake, link, make_net, q
from hydro.allocation import allocate, load_network, run_scenarios
from hydro.errors import ConfigError, InputDataError

MONTHS = {"monthly": [float(m) for m in range(1, 13)], "units": "m3/s"}  # January 1 m3/s ... December 12 m3/s


def _river(spec, demand="1000 m3/s", **kw):
    """An intake with inflow ``spec`` feeding one demand; the demand gets min(inflow, demand) every step."""
    return allocate(load_network(make_net([intake("i", spec), dem("d", "a", demand)], [link("l", "i", "d")], **kw)))


# ----------------------------------------------------------------- 1. monthly profiles
def test_monthly_demand_on_weekly_steps_is_time_weighted_across_the_month_boundary():
    # step 1: 29 Jan .. 5 Feb 2024 = 3 days of January (1 m3/s) + 4 days of February (2 m3/s): (3 + 8) / 7 m3/s;
    # step 2: 5 .. 12 Feb: 2 m3/s. It took the month of the step start (1 m3/s): 4 days of February went missing.
    res = _river("100 m3/s", demand=MONTHS, steps=2, start="2024-01-29", timestep="7D")
    assert q(res, "d") == pytest.approx([11.0 / 7.0, 2.0], rel=1e-12)
    assert res.requested[0, 0] == pytest.approx((3 * 1.0 + 4 * 2.0) * DAY, rel=1e-12)


def test_monthly_inflow_on_10_day_steps_keeps_each_months_volume_in_a_leap_february():
    # 10-day steps from 21 Feb 2024: [21 Feb, 2 Mar) = 9 days of February (2 m3/s; 29 days in 2024) + 1 day of March
    # (3 m3/s) -> 2.1 m3/s (2.2 in a common year); [2 Mar, 12 Mar) -> 3 m3/s. It gave 2 (the month of the step start).
    # Daily steps of the same profile give the same volumes.
    ten = _river(MONTHS, steps=2, start="2024-02-21", timestep="10D")
    assert q(ten, "d") == pytest.approx([(9 * 2.0 + 1 * 3.0) / 10.0, 3.0], rel=1e-12)
    common = _river(MONTHS, steps=1, start="2023-02-21", timestep="10D")
    assert q(common, "d") == pytest.approx([(8 * 2.0 + 2 * 3.0) / 10.0], rel=1e-12)
    daily = _river(MONTHS, steps=20, start="2024-02-21", timestep="1D")
    assert ten.delivered.sum() == pytest.approx(daily.delivered.sum(), rel=1e-12)


# ----------------------------------------------------------------- 2./3. scenarios
def _env_net(steps=3):
    # river 10 m3/s; env flow to the sea at priority 0 = the member's "env_q"; the city (10 m3/s) gets the rest
    return load_network(make_net(
        [intake("river", "10 m3/s"), dem("city", "a", "10 m3/s"), {"id": "sea", "type": "outlet"}],
        [link("l", "river", "city"), link("env", "river", "sea")],
        [{"type": "min_flow", "name": "eflow", "link": "env", "flow": {"external": "env_q", "units": "m3/s"}}],
        steps=steps))


def test_scenario_members_on_threads_keep_their_own_agreement_series(monkeypatch):
    """Both members' models are built before either runs (as two overlapping dask threads do): the min_flow series
    was kept on the network's shared agreement object, so the wet member ran with the dry member's env flow."""
    import hydro.allocation.core as core

    barrier = threading.Barrier(2)
    run_model = core.run_model

    def both_built_first(model):
        barrier.wait(timeout=30)
        return run_model(model)

    monkeypatch.setattr(core, "run_model", both_built_first)
    net = _env_net()
    res = run_scenarios(net, {"wet": {"env_q": np.full(3, 1.0)}, "dry": {"env_q": np.full(3, 6.0)}},
                        scheduler="threads")
    assert q(res["wet"], "city") == pytest.approx([9.0] * 3, abs=1e-9)
    assert q(res["dry"], "city") == pytest.approx([4.0] * 3, abs=1e-9)


def test_members_with_the_same_numbers_in_different_units_are_separate_runs():
    # 2 m3/s and 2 L/s (pandas Series, units in attrs): dask tokens of Series ignore attrs, pure=True merged them
    t = pd.date_range("2024-01-01", periods=3, freq="D")
    in_m3s = pd.Series([2.0, 2.0, 2.0], index=t)
    in_ls = pd.Series([2.0, 2.0, 2.0], index=t)
    in_ls.attrs["units"] = "L/s"
    net = load_network(make_net([intake("river", {"external": "q"}), dem("city", "a", "100 m3/s")],
                                [link("l", "river", "city")], steps=3))
    res = run_scenarios(net, {"m3s": {"q": in_m3s}, "ls": {"q": in_ls}}, scheduler="synchronous")
    assert q(res["m3s"], "city") == pytest.approx([2.0] * 3, rel=1e-12)
    assert q(res["ls"], "city") == pytest.approx([0.002] * 3, rel=1e-12)


# ----------------------------------------------------------------- 4. NaN and infinite values
@pytest.mark.parametrize("capacity", [{"values": [1.0, float("nan"), 1.0], "units": "m3/s"},
                                      {"monthly": [float("nan")] * 12, "units": "m3/s"},
                                      {"value": float("nan"), "units": "m3/s"}])
def test_nan_link_capacity_is_a_config_error(capacity):
    # a NaN capacity passed: the demand (5 m3/s) received 1 or even 10 m3/s. (+inf still means no limit.)
    ok = make_net([intake("i", "10 m3/s"), dem("d", "a", "5 m3/s")],
                  [link("l", "i", "d", capacity={"values": [1.0, float("inf"), 1.0], "units": "m3/s"})], steps=3)
    assert q(allocate(load_network(ok)), "d") == pytest.approx([1.0, 5.0, 1.0], abs=1e-9)
    net = make_net([intake("i", "10 m3/s"), dem("d", "a", "5 m3/s")], [link("l", "i", "d", capacity=capacity)], steps=3)
    with pytest.raises(ConfigError, match=r"links\[0\]\.capacity.*NaN value at step"):
        allocate(load_network(net))


def test_nan_evaporation_is_a_config_error():
    # storage and evaporation became NaN silently
    net = make_net([{"id": "r", "type": "reservoir", "capacity": "1e6 m3", "initial_storage": "5e5 m3", "inflow": "0 m3/s",
                     "evaporation": {"values": [1.0, float("nan"), 1.0], "units": "mm/d"}, "area": "1 km2"},
                    dem("d", "a", "1 m3/s")], [link("l", "r", "d")], steps=3)
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.evaporation.*NaN value at step 1"):
        allocate(load_network(net))


@pytest.mark.parametrize("key", ["inflow", "demand"])
def test_infinite_run_time_series_is_refused(key):
    # an infinite inflow delivered 1 m3/s of a 5 m3/s demand at that step, silently
    spec = {"external": "x"}
    nodes = [intake("i", spec if key == "inflow" else "10 m3/s"), dem("d", "a", spec if key == "demand" else "5 m3/s")]
    net = make_net(nodes, [link("l", "i", "d")], steps=3)
    with pytest.raises(InputDataError, match=r"external 'x' has an infinite value at step 1 \(2024-01-02T00:00:00"):
        allocate(load_network(net), {"x": np.array([1.0, np.inf, 1.0])})


# ----------------------------------------------------------------- 5. time zones
def test_start_with_a_utc_offset_at_midnight_keeps_the_offset(tmp_path):
    # daily means labelled at local midnight WITA (UTC+8) and a run starting at local midnight (dict network):
    # every step is one local day, 1, 2, 3 m3/s. The offset of the start was dropped (the run began at 00 UTC,
    # 8 h late): (16 h x 1 + 8 h x 2) / 24 = 1.333 m3/s.
    t = pd.date_range("2024-01-01", periods=4, freq="D", tz="Asia/Makassar")
    p = tmp_path / "wita.csv"
    pd.DataFrame({"time": [x.isoformat() for x in t], "q": [1.0, 2.0, 3.0, 4.0]}).to_csv(p, index=False)
    res = _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=3, start="2024-01-01T00:00:00+08:00")
    assert pd.Timestamp(res.times[0]) == pd.Timestamp("2023-12-31T16:00:00Z")
    assert q(res, "d") == pytest.approx([1.0, 2.0, 3.0], rel=1e-12)


def test_outage_with_a_utc_offset_at_midnight_keeps_the_offset():
    # naive (UTC) hourly run; outage from 2 Jan 00:00 WITA = 1 Jan 16:00 UTC for one day: steps 16 .. 39 closed
    net = make_net([intake("i", "10 m3/s"), dem("d", "a", "5 m3/s")],
                   [link("l", "i", "d", outages=[{"start": "2024-01-02T00:00:00+08:00", "end": "2024-01-03T00:00:00+08:00"}])],
                   steps=48, timestep="1h")
    v = q(allocate(load_network(net)), "d")
    closed = np.flatnonzero(v < 1e-9)
    assert closed.tolist() == list(range(16, 40))


@pytest.mark.filterwarnings("error")
def test_csv_stamps_with_two_offsets_daylight_saving(tmp_path):
    # daily means at local midnight Europe/Berlin around 31 March 2024 (+01:00, then +02:00): the hours of local
    # 31 March (23 of them) carry 2 m3/s. Read with a FutureWarning (an error under pytest) and a UserWarning.
    t = pd.date_range("2024-03-30", periods=4, freq="D", tz="Europe/Berlin")
    p = tmp_path / "dst.csv"
    pd.DataFrame({"time": [x.isoformat() for x in t], "q": [1.0, 2.0, 3.0, 4.0]}).to_csv(p, index=False)
    res = _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=71, start="2024-03-29T23:00:00", timestep="1h")
    v = q(res, "d")
    assert v == pytest.approx(np.repeat([1.0, 2.0, 3.0], [24, 23, 24]), rel=1e-12)


# ----------------------------------------------------------------- 6. outputs
def _return_loop(**kw):
    # river 2 m3/s -> hub -> city (1 m3/s); the city returns half of its water to the hub in the same step; hub -> sea
    return make_net([intake("river", "2 m3/s"), {"id": "hub", "type": "junction"}, dem("city", "a", "1 m3/s"),
                     {"id": "sea", "type": "outlet"}],
                    [link("rh", "river", "hub"), link("hc", "hub", "city"), link("hs", "hub", "sea"),
                     link("ret", "city", "hub", return_fraction=0.5, **kw)], steps=2)


@pytest.mark.parametrize("lag", [0, 1])
def test_return_flow_back_to_the_feeding_junction_writes_every_file(tmp_path, lag):
    """write() raised 'a loop of links without a source' after the NetCDF files were on disk."""
    res = allocate(load_network(_return_loop(lag=lag)))
    files = res.write(tmp_path / "run")
    assert len(files) == 7  # demand, link, region + 4 tables
    table = pd.read_csv(tmp_path / "run_delivery_by_source.csv")
    assert table["source"].tolist() == ["river", "river"]
    assert table["delivered_m3s"].to_numpy() == pytest.approx([1.0, 1.0], rel=1e-12)


def test_source_shares_in_a_return_loop():
    # river 1 m3/s and well 1 m3/s into the hub; the city (10 m3/s) takes everything; same-step return 0.5 to the hub:
    # x = 2 + 0.5 x -> x = 4 m3/s delivered; hub composition c = (river + well + 0.5·4·c) / 4 -> c = (river + well)/2
    from hydro.allocation.sources import delivery_by_source

    net = make_net([intake("river", "1 m3/s"), {"id": "well", "type": "groundwater", "sustainable_yield": "1 m3/s"},
                    {"id": "hub", "type": "junction"}, dem("city", "a", "10 m3/s"), {"id": "sea", "type": "outlet"}],
                   [link("rh", "river", "hub"), link("wh", "well", "hub"), link("hc", "hub", "city"),
                    link("hs", "hub", "sea"), link("ret", "city", "hub", return_fraction=0.5)], steps=1)
    res = allocate(load_network(net))
    assert q(res, "city") == pytest.approx([4.0], rel=1e-9)
    da = delivery_by_source(res).sel(demand="city").isel(time=0)
    assert float(da.sel(source="river")) == pytest.approx(2.0, rel=1e-9)
    assert float(da.sel(source="well")) == pytest.approx(2.0, rel=1e-9)


def test_a_failing_table_leaves_no_file(tmp_path, monkeypatch):
    """The tables were built after the NetCDF files had been written: an error there left half a result."""
    import hydro.allocation.sources as sources

    def broken(res):
        raise RuntimeError("table failed")

    monkeypatch.setattr(sources, "delivery_by_source_frame", broken)
    res = allocate(load_network(make_net([intake("i", "1 m3/s"), dem("d", "a", "1 m3/s")], [link("l", "i", "d")],
                                         steps=2)))
    with pytest.raises(RuntimeError, match="table failed"):
        res.write(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_daily_steps_on_a_daylight_saving_axis_last_24_hours():
    # a run in Europe/Berlin from 30 March 2024, daily steps of 86400 s: the hourly inflow 0, 1, 2, ... m3/s gives
    # step k the mean of hours 24k .. 24k+23 (its volume = rate × 86400 s). The axis stepped by calendar days (the
    # 31 March step lasted 23 h): steps 2 and 3 took the means of hours 47..70 and 71..94.
    t = pd.date_range("2024-03-29T23:00:00", periods=96, freq="h")  # UTC, = 30 March 00:00 +01:00
    q_in = pd.Series(np.arange(96.0), index=t)
    net = load_network(make_net([intake("i", {"external": "x"}), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")]))
    res = allocate(net, {"x": q_in}, start=pd.Timestamp("2024-03-30", tz="Europe/Berlin"), steps=4)
    assert np.diff(pd.DatetimeIndex(res.times).asi8).tolist() == [86400 * 10**9] * 3
    assert q(res, "d") == pytest.approx([11.5, 35.5, 59.5, 83.5], rel=1e-12)


# ----------------------------------------------------------------- instantaneous (time: point) series
def test_netcdf_point_values_are_joined_linearly_over_each_step(tmp_path):
    import xarray as xr

    # instantaneous flows 0, 2, 4, 2, 0 m3/s at midnights (cell_methods "time: point", allowed by the exchange
    # profile): the mean of day 1 is (0 + 2) / 2 = 1, then 3, 3, 1 (trapezoids); a day from noon to noon is
    # (1 + 2) / 2 · ½ + (2 + 3) / 2 · ½ = 2. Read as period-start means they were 0, 2, 4, 2.
    t = pd.date_range("2024-01-01", periods=5, freq="D")
    ds = xr.Dataset({"discharge": ("time", [0.0, 2.0, 4.0, 2.0, 0.0], {"units": "m3 s-1", "cell_methods": "time: point"})},
                    coords={"time": t})
    path = tmp_path / "q.nc"
    ds.to_netcdf(path)
    spec = {"netcdf": str(path), "variable": "discharge"}
    assert q(_river(spec, steps=4), "d") == pytest.approx([1.0, 3.0, 3.0, 1.0], abs=1e-12)
    assert q(_river(spec, steps=3, start="2024-01-01T12:00:00"), "d") == pytest.approx([2.0, 3.5, 2.0], abs=1e-12)
    hourly = _river(spec, steps=96, timestep="1h")
    assert hourly.delivered.sum() == pytest.approx(_river(spec, steps=4).delivered.sum(), rel=1e-12)
    with pytest.raises(InputDataError, match="does not cover the run"):
        _river(spec, steps=5)  # the last day has no closing sample
    ds["discharge"][2] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc")
    with pytest.raises(InputDataError, match="no value for step 1 "):
        _river({"netcdf": str(tmp_path / "nan.nc"), "variable": "discharge"}, steps=4)


def test_an_ensemble_file_is_refused_with_a_pointer_to_scenarios(tmp_path):
    import xarray as xr

    # an exchange-style ensemble (realization, station, time): the station is found by its cf_role ids, and the
    # extra realization dimension is named (it was taken as the station dimension: "station 'y' not in ids [0, 1]")
    t = pd.date_range("2024-01-01", periods=3, freq="D")
    ds = xr.Dataset({"discharge": (("realization", "station", "time"), np.ones((2, 2, 3)), {"units": "m3 s-1"}),
                     "station_id": ("station", np.array(["x", "y"], dtype="S1"), {"cf_role": "timeseries_id"})},
                    coords={"time": t, "realization": [0, 1]})
    ds.to_netcdf(tmp_path / "ens.nc")
    with pytest.raises(InputDataError, match=r"ensemble \(realization\).*run_scenarios"):
        _river({"netcdf": str(tmp_path / "ens.nc"), "variable": "discharge", "station": "y"}, steps=3)
    ds.isel(realization=0).drop_vars("realization").to_netcdf(tmp_path / "one.nc")
    assert q(_river({"netcdf": str(tmp_path / "one.nc"), "variable": "discharge", "station": "y"}, steps=3),
             "d") == pytest.approx([1.0, 1.0, 1.0])
