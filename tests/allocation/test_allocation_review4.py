"""Review 4 regression tests: tiny networks with hand-derived answers.

1. series coarser than the model step (step averages that conserve volume; gaps are errors),
2. negative (net) evaporation = a net gain of water onto the reservoir surface,
3. licences spread evenly over a season of months, resets in short months and leap years.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from alloc_helpers import DAY, assert_balanced, dem, intake, link, q, run
from hydro.errors import ConfigError, InputDataError

TOL = 1e-6


def _csv(tmp_path, times, values, name="q.csv"):
    p = tmp_path / name
    pd.DataFrame({"time": pd.DatetimeIndex(times), "q": values}).to_csv(p, index=False)
    return p


def _river(spec, **kw):
    """Intake with inflow ``spec`` feeding one large demand: the demand receives the inflow of every step."""
    return run([intake("i", spec), dem("d", "a", "1000 m3/s")], [link("l", "i", "d")], **kw)


# ----------------------------------------------------------------- 1. series coarser than the step
@pytest.mark.parametrize("timestep, steps", [("1D", 3), ("6h", 12), ("1h", 72)])
def test_daily_csv_drives_sub_daily_run_with_the_same_daily_volume(tmp_path, timestep, steps):
    # daily means 1, 2, 3 m3/s (labels = start of the day): every step of day k carries k m3/s, so each day
    # delivers k · 86400 m3 whatever the step (before: "does not cover the run" at the second hour)
    p = _csv(tmp_path, pd.date_range("2024-01-01", periods=3, freq="D"), [1.0, 2.0, 3.0])
    res = _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=steps, timestep=timestep)
    per_day = steps // 3
    assert q(res, "d") == pytest.approx(np.repeat([1.0, 2.0, 3.0], per_day), abs=1e-12)
    daily = res.delivered[:, 0].reshape(3, per_day).sum(axis=1)
    assert daily == pytest.approx([1.0 * DAY, 2.0 * DAY, 3.0 * DAY], rel=1e-12)
    assert_balanced(res)


def test_monthly_csv_drives_daily_run_conserving_each_months_volume(tmp_path):
    # monthly means (month-start labels) 1, 2, 3 m3/s for Jan–Mar 2024 (a leap year): the 91 daily steps
    # carry the month's mean; volumes 31·1·86400, 29·2·86400, 31·3·86400 m3
    p = _csv(tmp_path, pd.date_range("2024-01-01", periods=3, freq="MS"), [1.0, 2.0, 3.0])
    res = _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=91, start="2024-01-01")
    v = res.delivered[:, 0]
    assert q(res, "d") == pytest.approx(np.repeat([1.0, 2.0, 3.0], [31, 29, 31]), abs=1e-12)
    assert [v[:31].sum(), v[31:60].sum(), v[60:].sum()] == pytest.approx([31 * DAY, 58 * DAY, 93 * DAY], rel=1e-12)
    assert_balanced(res)


def test_finer_series_is_still_the_step_mean(tmp_path):
    # hourly values 0..47 m3/s into a daily run: day 1 = mean(0..23) = 11.5, day 2 = mean(24..47) = 35.5
    p = _csv(tmp_path, pd.date_range("2024-01-01", periods=48, freq="h"), np.arange(48.0))
    res = _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=2)
    assert q(res, "d") == pytest.approx([11.5, 35.5], abs=1e-9)


def test_coarse_series_shorter_than_the_run_is_an_error_naming_file_key_and_step(tmp_path):
    # 3 daily values cover 72 hours; the 73rd hourly step (2024-01-04T00:00) is not covered
    p = _csv(tmp_path, pd.date_range("2024-01-01", periods=3, freq="D"), [1.0, 2.0, 3.0], name="short.csv")
    with pytest.raises(InputDataError, match=r"nodes\[0\]\.inflow.*short\.csv:q does not cover the run: no value "
                                             r"for step 72 \(2024-01-04T00:00:00"):
        _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=73, timestep="1h")


def test_missing_day_or_nan_in_a_daily_series_is_an_error_not_a_silent_fill(tmp_path):
    # 2 January missing: the hours of that day have no value (not the value of 1 January held on)
    t = pd.DatetimeIndex(["2024-01-01", "2024-01-03", "2024-01-04", "2024-01-05"])
    p = _csv(tmp_path, t, [1.0, 3.0, 4.0, 5.0], name="gap.csv")
    with pytest.raises(InputDataError, match=r"gap\.csv:q does not cover the run: no value for step 24 "
                                             r"\(2024-01-02T00:00:00"):
        _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=96, timestep="1h")
    p = _csv(tmp_path, pd.date_range("2024-01-01", periods=4, freq="D"), [1.0, np.nan, 3.0, 4.0], name="nan.csv")
    with pytest.raises(InputDataError, match=r"nan\.csv:q does not cover the run: no value for step 1 "):
        _river({"csv": str(p), "column": "q", "units": "m3/s"}, steps=4)


def test_netcdf_time_bounds_place_period_end_labels_on_the_right_step(tmp_path):
    # a file labelled at the end of each day with CF time bounds (as hydro writes its outputs): the value of the
    # period [1 Jan, 2 Jan) is the flow of 1 January — also on an hourly run (volume per day kept)
    ends = pd.date_range("2024-01-02", periods=3, freq="D")
    ds = xr.Dataset({"discharge": ("time", [1.0, 2.0, 3.0], {"units": "m3 s-1"})}, coords={"time": ends})
    ds["time_bnds"] = (("time", "nv"), np.stack([(ends - pd.Timedelta("1D")).values, ends.values], axis=1))
    ds["time"].attrs["bounds"] = "time_bnds"
    ds["time"].encoding["units"] = "hours since 2024-01-01"
    ds["time_bnds"].encoding["units"] = "hours since 2024-01-01"
    path = tmp_path / "q.nc"
    ds.to_netcdf(path)
    spec = {"netcdf": str(path), "variable": "discharge"}
    res = _river(spec, steps=3)
    assert q(res, "d") == pytest.approx([1.0, 2.0, 3.0], abs=1e-12)
    res = _river(spec, steps=72, timestep="1h")
    assert q(res, "d") == pytest.approx(np.repeat([1.0, 2.0, 3.0], 24), abs=1e-12)
    assert_balanced(res)


def test_allocation_output_read_back_as_a_neighbours_inflow(tmp_path):
    # network A writes its link flows (end-of-step labels with time_bnds); network B reads link 'l' as the inflow
    # of its intake: B's deliveries equal A's flows step by step (before: the first step had "no value")
    resA = run([intake("i", {"values": [1.0, 2.0, 3.0], "units": "m3/s"}), dem("d", "a", "10 m3/s")],
               [link("l", "i", "d")], steps=3)
    resA.write(tmp_path / "a")
    spec = {"netcdf": str(tmp_path / "a_link.nc"), "variable": "link_flow", "station": "l"}
    resB = _river(spec, steps=3)
    assert q(resB, "d") == pytest.approx([1.0, 2.0, 3.0], abs=1e-9)


# ----------------------------------------------------------------- 2. negative (net) evaporation
def _res(evaporation, initial="50 m3", **kw):
    d = {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": initial, "inflow": "0 m3/d",
         "evaporation": evaporation, "area": "1000 m2"}
    d.update(kw)
    return d


def test_negative_net_evaporation_is_a_gain_in_the_mass_balance():
    # net evaporation −2 mm/d on 1000 m2 = a gain of 2 m3/d; demand 1 m3/d: S = 50 + 2 − 1 = 51, 52, 53
    # (before: negative rates were silently ignored, S = 49, 48, 47)
    res = run([_res("-2 mm/d"), dem("d", "a", "1 m3/d")], [link("l", "r", "d")], steps=3)
    assert res.storage[:, 0] == pytest.approx([51.0, 52.0, 53.0], abs=TOL)
    assert res.evaporation[:, 0] == pytest.approx([-2.0, -2.0, -2.0], abs=TOL)
    assert res.delivered[:, 0] == pytest.approx([1.0, 1.0, 1.0], abs=TOL)
    assert np.abs(res.mass_residual).max() <= 1e-9
    # mixed series −2, +3, −1 mm/d: 50 + 2 − 1 = 51, 51 − 3 − 1 = 47, 47 + 1 − 1 = 47
    res = run([_res({"values": [-2.0, 3.0, -1.0], "units": "mm/d"}), dem("d", "a", "1 m3/d")],
              [link("l", "r", "d")], steps=3)
    assert res.storage[:, 0] == pytest.approx([51.0, 47.0, 47.0], abs=TOL)
    assert res.evaporation[:, 0] == pytest.approx([-2.0, 3.0, -1.0], abs=TOL)
    assert_balanced(res)


def test_net_rain_on_a_full_reservoir_spills():
    # full (100 m3), gain 2 m3/d, release 1 m3/d: stays full and spills 1 m3/d
    res = run([_res("-2 mm/d", initial="100 m3"), dem("d", "a", "1 m3/d")], [link("l", "r", "d")], steps=2)
    assert res.storage[:, 0] == pytest.approx([100.0, 100.0], abs=TOL)
    assert res.spill[:, 0] == pytest.approx([1.0, 1.0], abs=TOL)
    assert_balanced(res)


def test_net_rain_on_an_empty_reservoir_with_area_table_serves_the_demand():
    # empty reservoir, area table 500 m2 at 0 m3 → 1500 m2 at 100 m3: the gain of −4 mm/d at S = 0 is
    # 0.004 · 500 = 2 m3, the demand of 3 m3/d gets 2; next step S = 0 again
    node = _res("-4 mm/d", initial="0 m3", area=None,
                area_table={"storage": [0.0, 100.0], "area": [500.0, 1500.0], "storage_units": "m3", "area_units": "m2"})
    res = run([node, dem("d", "a", "3 m3/d")], [link("l", "r", "d")], steps=2)
    assert res.delivered[:, 0] == pytest.approx([2.0, 2.0], abs=TOL)
    assert res.storage[:, 0] == pytest.approx([0.0, 0.0], abs=TOL)
    assert_balanced(res)


# ----------------------------------------------------------------- 3. licences with months and leap years
def _lic(**kw):
    ag = {"type": "licence", "name": "lic", "party": "a", "demands": ["d"]}
    ag.update(kw)
    return ag


def _licensed(ag, **kw):
    return run([intake("i", "1000 m3/d"), dem("d", "a", "100 m3/d")], [link("l", "i", "d")], [ag], **kw)


def test_even_licence_with_a_season_spreads_the_volume_over_the_season():
    # 310 m3 usable in January only, spread evenly: 310 / 31 = 10 m3/d in January, 0 in February
    # (before: 310 / 366 = 0.847 m3/d — only 8.5 % of the licence could ever be used)
    res = _licensed(_lic(volume="310 m3", period="even", months=[1]), steps=35, start="2024-01-01")
    assert res.delivered[:, 0] == pytest.approx([10.0] * 31 + [0.0] * 4, abs=TOL)
    assert res.delivered[:31, 0].sum() == pytest.approx(310.0, abs=1e-6)
    assert_balanced(res)


def test_even_licence_season_across_the_reset_on_an_hourly_run():
    # reset 30 April, months April–May, 24 m3, hourly from 2023-04-29: the last 24 usable hours of the old
    # period (29 April) get 24 / 24 = 1 m3/h; from 30 April the new period has 24 (30 Apr) + 744 (May)
    # + 696 (1–29 April 2024) = 1464 usable hours: 24 / 1464 m3/h (June … March are not counted)
    res = _licensed(_lic(volume="24 m3", period="even", reset="04-30", months=[4, 5]), steps=48,
                    start="2023-04-29", timestep="1h")
    assert res.delivered[:, 0] == pytest.approx([1.0] * 24 + [24.0 / 1464.0] * 24, abs=TOL)


@pytest.mark.parametrize("year, feb_days, next_len", [(2024, 29, 365), (2023, 28, 366)])
def test_even_licence_reset_on_1_march_in_leap_and_common_years(year, feb_days, next_len):
    # reset 03-01, 290 m3: on 1 Feb the period ends after February (29 days in 2024, 28 in 2023), then the next
    # period runs 1 March → end of February next year (365 days from 2024, 366 from 2023: 2024 is a leap year)
    res = _licensed(_lic(volume="290 m3", period="even", reset="03-01"), steps=31, start=f"{year}-02-01")
    v = res.delivered[:, 0]
    assert v[:feb_days] == pytest.approx([290.0 / feb_days] * feb_days, abs=TOL)
    assert v[feb_days:] == pytest.approx([290.0 / next_len] * (31 - feb_days), abs=TOL)


def test_annual_licence_resets_on_1_march_not_on_29_february():
    # 150 m3 per year from 1 March, demand 100 m3/d from 26 Feb 2024: 100, 50, 0 (28 Feb), 0 (29 Feb), then
    # the reset on 1 March: 100
    res = _licensed(_lic(volume="150 m3", reset="03-01", carry_over_fraction=0.5, carry_over_max="1000 m3"),
                    steps=5, start="2024-02-26")
    assert res.delivered[:, 0] == pytest.approx([100.0, 50.0, 0.0, 0.0, 100.0], abs=TOL)
    # with 40 m3/d demand the 150 m3 are not used up: 4 × 40 = 160 > 150 → 40, 40, 40, 30, then reset with carry
    res = run([intake("i", "1000 m3/d"), dem("d", "a", "40 m3/d")], [link("l", "i", "d")],
              [_lic(volume="200 m3", reset="03-01", carry_over_fraction=0.5, carry_over_max="1000 m3")],
              steps=6, start="2024-02-27")
    # 27, 28, 29 Feb use 120 of 200: 80 unused → carry 40 on 1 March; the new period allows 240
    assert res.agreement_state["lic:carry_over"].to_numpy() == pytest.approx([0, 0, 0, 40, 40, 40], abs=TOL)
    assert res.delivered[:, 0] == pytest.approx([40.0] * 6, abs=TOL)


@pytest.mark.parametrize("kw, match", [({"reset": "02-29"}, "leap years"), ({"reset": "04-31"}, "MM-DD"),
                                       ({"months": [0, 13]}, "months"), ({"months": []}, "months")])
def test_licence_reset_and_months_validation(kw, match):
    with pytest.raises(ConfigError, match=match):
        _licensed(_lic(volume="10 m3", **kw))
