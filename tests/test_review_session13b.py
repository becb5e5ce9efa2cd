"""Review of the GRIB accumulation rule, whole-day allocation and the strict-JSON water balance (session 13b)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError


# ------------------------------------------------------------------ accumulation rule: days, not drops
def test_one_sub_hourly_storm_tapering_within_an_hour_is_one_drop_day_not_two():
    """30-min rain per step rising 1, 2, 3, 4 then 1, 0 drops twice, both in the 13 UTC hour of ONE day: the rule asks
    for a drop at the same hour on two days, so this is no accumulation (it was: two drops counted as two days)."""
    from hydro.forcing.accumulation import accumulation_resets

    t = pd.date_range("2024-01-01 00:30", periods=97, freq="30min")  # period-end labels, 48.5 h
    v = np.zeros(97)
    i = t.get_loc(pd.Timestamp("2024-01-01 13:00"))
    v[i - 3:i + 3] = [1.0, 2.0, 3.0, 4.0, 1.0, 0.0]  # drops at the labels 13:30 and 14:00: periods starting 13:00, 13:30
    assert accumulation_resets(v, t, min_repeats=1) == [13]
    assert accumulation_resets(v, t, min_repeats=2) is None
    # the same tapering on two days is still the recurring pattern of accumulations
    v2 = v.copy()
    v2[i + 45:i + 51] = [1.0, 2.0, 3.0, 4.0, 1.0, 0.0]  # 48 steps of 30 min = 24 h later
    assert accumulation_resets(v2, t, min_repeats=2) == [13]


# ------------------------------------------------------------------ transfers and closures with a NaN term
def test_a_nan_sent_volume_never_closes_a_transfer():
    """max(abs(nan), 5) is nan and ``nan > 0`` is False: the relative difference was 0 and the transfer closed."""
    from hydro.forecast.pipeline import _transfer, balance_alert, summarise_balances

    t = _transfer(float("nan"), 5.0, "routed volume vs inflow")
    assert t["closed"] is False
    wb = summarise_balances({}, {"routing_to_allocation_x": t})
    assert wb["closed"] is False and wb["not_closed"] == ["transfer routing_to_allocation_x"]
    assert wb["transfers"]["routing_to_allocation_x"]["relative_difference"] is None
    assert "routing_to_allocation_x: not finite m3" in balance_alert(wb)[0]["message"]
    assert _transfer(4.0, 5.0, "x")["relative_difference"] == pytest.approx(0.2)  # 1 / 5, unchanged


def test_a_nan_stated_residual_of_a_module_never_closes():
    """A module that states a NaN relative residual (its own balance broke) is not closed by a clean recomputation."""
    from hydro.forecast.pipeline import _closure

    assert _closure({"a": 1.0}, {"b": 1.0}, 0.0, stated_relative=float("nan"))["closed"] is False
    assert _closure({"a": 1.0}, {"b": 1.0}, 0.0, stated_relative=0.0)["closed"] is True


# ------------------------------------------------------------------ allocation inputs
def _gauges(gid, start, hours, q):
    t = pd.date_range(pd.Timestamp(start) + pd.Timedelta("1h"), periods=hours, freq="1h")  # period-end labels
    return xr.Dataset({"discharge": (("station", "time"), np.asarray(q, float)[None, :])},
                      coords={"station_id": ("station", [gid]), "time": t})


@pytest.fixture
def alloc_cfg(tmp_path):
    from hydro.config import load_config
    from tests.forecast.conftest import make_project

    cfg = load_config(make_project(tmp_path / "p", allocation=True))
    node = next(iter(cfg.allocation.simulated_inflows))
    return cfg, node, cfg.allocation.simulated_inflows[node]


def test_allocation_inputs_accept_utc_aware_run_times(alloc_cfg):
    """'2025-08-25T12:00Z' is the same run as '2025-08-25T12:00' (naive = UTC): the whole day 26 August, mean 20 m3/s
    (it was 'no routed discharge on 2025-08-26': tz-aware days never matched the naive gauge times)."""
    from hydro.forecast import stages

    cfg, node, gid = alloc_cfg
    g = _gauges(gid, "2025-08-25T12:00", 48, np.r_[np.full(12, 10.0), np.full(24, 20.0), np.full(12, 40.0)])
    _, external, notes = stages.allocation_inputs(cfg, g, "2025-08-25T12:00Z", "2025-08-27T12:00Z")
    assert external[node] == pytest.approx([20.0], rel=1e-12)
    assert "2025-08-26 … 2025-08-26" in notes["_period"]
    # +08:00 (WITA) 2025-08-25T20:00 is 12:00 UTC
    _, external, _ = stages.allocation_inputs(cfg, g, "2025-08-25T20:00+08:00", "2025-08-27T20:00+08:00")
    assert external[node] == pytest.approx([20.0], rel=1e-12)


def test_a_day_with_a_nan_routed_step_has_no_daily_mean(alloc_cfg):
    """23 hours of 20 m3/s and one NaN: the mean of the 23 was spread over 24 h (water the routing never sent)."""
    from hydro.forecast import stages

    cfg, node, gid = alloc_cfg
    q = np.r_[np.full(24, 20.0), np.full(24, 30.0)]
    q[30] = np.nan  # the hour 06:00-07:00 of 26 August
    g = _gauges(gid, "2025-08-25T00:00", 48, q)
    with pytest.raises(InputDataError, match=r"no routed discharge on \['2025-08-26'\]"):
        stages.allocation_inputs(cfg, g, "2025-08-25T00:00", "2025-08-27T00:00")
    q[30] = 30.0
    _, external, _ = stages.allocation_inputs(cfg, _gauges(gid, "2025-08-25T00:00", 48, q), "2025-08-25T00:00",
                                              "2025-08-27T00:00")
    assert external[node] == pytest.approx([20.0, 30.0], rel=1e-12)


def test_nightly_forecast_records_the_allocation_period_in_the_manifest(tmp_path, monkeypatch):
    """The nightly manifest says which inflows the allocation used and which whole days it covers, like `hydro run`
    (the notes of allocation_inputs were dropped)."""
    from hydro.config import load_config
    from hydro.forecast.nightly import run_forecast
    from tests.forecast.conftest import make_project

    cfg_path = make_project(tmp_path / "p", allocation=True)
    text = cfg_path.read_text()
    assert "lead_time_h = 48.0" in text
    cfg_path.write_text(text.replace("lead_time_h = 48.0", "lead_time_h = 36.0"))  # 25 Aug 00:00 .. 26 Aug 12:00
    r = run_forecast(load_config(cfg_path), "2025-08-25T00:00Z", output_root=tmp_path / "out")
    notes = r.manifest["facts"]["allocation_inflows"]
    assert "2025-08-25 … 2025-08-25" in notes["_period"] and "partial days left out" in notes["_period"]
    assert r.manifest["water_balance_closed"] is True
