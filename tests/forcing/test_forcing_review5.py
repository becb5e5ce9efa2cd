"""Review 5 of hydro.forcing: calendar-aligned aggregation, PET units/times/day of year, accumulations.

Every test checks values that can be derived by hand.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import change_step, deaccumulate, pet_from_temperature, pet_hargreaves, pet_oudin, prepare
from hydro.forcing.pet import days_covered, extraterrestrial_radiation, temperature_to_degc
from tests.forcing.conftest import make_source, make_target

X4 = 500_000.0 + 5_000.0 + 10_000.0 * np.arange(4)
Y3 = 9_870_000.0 - 5_000.0 - 10_000.0 * np.arange(3)


def hourly_index_series(start, n):
    """Hourly field whose value is the hour number since 2024-01-01 00:00 (period-end labels)."""
    t = pd.date_range(start, periods=n, freq="1h")
    k = ((t - pd.Timestamp("2024-01-01")) / pd.Timedelta("1h")).to_numpy(float)
    return make_source(np.broadcast_to(k[:, None, None], (n, 3, 4)).copy(), X4, Y3, t), k


# --------------------------------------------------------------------------- 1. aggregation on the clock
def test_hourly_to_daily_starting_0500_gives_utc_calendar_days():
    """Hourly labels 05:00 (1 Jan) … 04:00 (4 Jan) = 72 h. Before: 3 'days' ending 04:00 (each mixing two
    calendar days). Now: the 20 h ending 05:00…00:00 of 1 Jan and the 4 h of 4 Jan are dropped (warning), and the two full
    UTC days 2 Jan (hours 25…48) and 3 Jan (49…72) are summed and labelled 2024-01-03 00:00 / 01-04 00:00."""
    src, k = hourly_index_series("2024-01-01 05:00", 72)
    with pytest.warns(UserWarning, match=r"dropped 20 leading .* and 4 trailing"):
        d = change_step(src, "1D")
    assert list(pd.DatetimeIndex(d.time.values)) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04")]
    assert d.values[0, 0, 0] == pytest.approx(sum(range(25, 49)))  # 876
    assert d.values[1, 0, 0] == pytest.approx(sum(range(49, 73)))  # 1452


def test_aligned_hourly_to_daily_has_no_warning_and_prepare_same():
    src, _ = hourly_index_series("2024-01-01 01:00", 48)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = change_step(src, "1D")
        p = prepare(src, make_target(X4, Y3), "1D")
    assert d.values[:, 0, 0].tolist() == [sum(range(1, 25)), sum(range(25, 49))]
    np.testing.assert_allclose(p.values[:, 1, 2], [300.0, 876.0])
    assert pd.Timestamp(p.time.values[0]) == pd.Timestamp("2024-01-02")


def test_daily_with_a_local_day_boundary():
    """utc_offset=8 (WITA): days end at local midnight = 16:00 UTC. Hours ending 17:00 (1 Jan) …
    16:00 (2 Jan) = hours 17…40."""
    src, _ = hourly_index_series("2024-01-01 01:00", 48)
    with pytest.warns(UserWarning, match="dropped 16 leading"):
        d = change_step(src, "1D", utc_offset=8)
    assert pd.Timestamp(d.time.values[0]) == pd.Timestamp("2024-01-02 16:00")
    assert d.sizes["time"] == 1 and d.values[0, 0, 0] == pytest.approx(sum(range(17, 41)))


def test_prepare_start_end_refuses_the_dropped_partial_day():
    src, _ = hourly_index_series("2024-01-01 05:00", 72)
    with pytest.warns(UserWarning), pytest.raises(InputDataError, match="the run needs"):
        prepare(src, make_target(X4, Y3), "1D", start="2024-01-02", end="2024-01-04")


def test_no_complete_day_and_straddling_periods_are_errors():
    src, _ = hourly_index_series("2024-01-01 05:00", 20)
    with pytest.raises(InputDataError, match="no complete model step"):
        change_step(src, "1D")
    t = pd.date_range("2024-01-01 00:30", periods=48, freq="1h")  # hours ending at :30 straddle midnight
    with pytest.raises(InputDataError, match="straddle"):
        change_step(make_source(np.ones((48, 3, 4)), X4, Y3, t), "1D")


def test_three_hourly_blocks_end_on_multiples_of_three_hours():
    src, _ = hourly_index_series("2024-01-01 02:00", 7)  # hours 2…8 → block ending 06:00 = 4+5+6, 09:00 incomplete
    with pytest.warns(UserWarning):
        d = change_step(src, "3h")
    assert list(pd.DatetimeIndex(d.time.values)) == [pd.Timestamp("2024-01-01 06:00")]
    assert d.values[0, 0, 0] == 15.0


# --------------------------------------------------------------------------- 2. PET
def _temp(values, times, units, name="tas"):
    n = len(times)
    v = np.broadcast_to(np.asarray(values, float).reshape(n, 1, 1), (n, 3, 4)).copy()
    return make_source(v, X4, Y3, times, units=units, name=name)


@pytest.mark.parametrize("units,value", [("degC", 27.0), ("degree_Celsius", 27.0), ("degrees_Celsius", 27.0),
                                         ("Celsius", 27.0), ("degrees Celsius", 27.0), ("°C", 27.0),
                                         ("K", 300.15), ("kelvin", 300.15), ("degF", 80.6)])
def test_temperature_units_accepted_and_converted(units, value):
    assert temperature_to_degc([value], units, "t")[0] == pytest.approx(27.0, rel=1e-12)


@pytest.mark.parametrize("units", ["mm", "1", "C", "K-1", "degC/day", "m s-1", "", None, "kelvins of joy"])
def test_non_temperature_units_refused(units):
    with pytest.raises(InputDataError, match="temperature"):
        temperature_to_degc([27.0], units, "t")


def test_pet_day_of_year_is_the_day_covered():
    """Daily values stamped 2024-01-02 00:00 cover 1 January: Ra of day 1, not day 2 (period-end labels)."""
    t = pd.date_range("2024-01-02", periods=3, freq="1D")
    assert list(days_covered(t, "t")) == list(pd.date_range("2024-01-01", periods=3, freq="1D"))
    tk = _temp([300.15] * 3, t, "K")
    pe = pet_from_temperature(tk)
    from pyproj import Transformer

    _, lat = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True).transform(X4[1], Y3[2])
    day1 = pet_oudin([27.0], lat, pd.DatetimeIndex(["2024-01-01"]))[0]
    day2 = pet_oudin([27.0], lat, pd.DatetimeIndex(["2024-01-02"]))[0]
    assert day1 != pytest.approx(day2, rel=1e-9)
    assert pe.values[0, 2, 1] == pytest.approx(day1, rel=1e-10)
    # hand value: Oudin = Ra/(λρ)·(T+5)/100·1000 = Ra·32/245 with Ra of day 1
    ra = extraterrestrial_radiation(lat, pd.DatetimeIndex(["2024-01-01"]))[0]
    assert pe.values[0, 2, 1] == pytest.approx(ra * 32.0 / 245.0, rel=1e-12)
    assert list(pd.DatetimeIndex(pe.time.values)) == list(t)  # labels kept (period ends)
    with pytest.raises(InputDataError, match="daily"):
        pet_from_temperature(_temp([27.0] * 3, pd.date_range("2024-01-01", periods=3, freq="12h"), "degC"))


def test_hargreaves_tmin_tmax_times_and_units():
    t = pd.date_range("2024-07-02", periods=2, freq="1D")
    tn = _temp([20.0, 21.0], t, "degC", "tasmin")
    tx = _temp([30.0 + 273.15, 31.0 + 273.15], t, "K", "tasmax")  # mixed units are fine
    pe = pet_from_temperature(tmin=tn, tmax=tx, method="hargreaves")
    from pyproj import Transformer

    _, lat = Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True).transform(X4[0], Y3[0])
    ra = 0.408 * extraterrestrial_radiation(lat, pd.DatetimeIndex(["2024-07-01"]))[0]
    assert pe.values[0, 0, 0] == pytest.approx(0.0023 * ra * (25.0 + 17.8) * np.sqrt(10.0), rel=1e-9)
    assert pe.values[0, 0, 0] == pytest.approx(
        pet_hargreaves([20.0], [30.0], lat, pd.DatetimeIndex(["2024-07-01"]))[0], rel=1e-9)
    shifted = tx.assign_coords(time=t + pd.Timedelta("1D"))
    with pytest.raises(InputDataError, match="different times"):
        pet_from_temperature(tmin=tn, tmax=shifted, method="hargreaves")
    with pytest.raises(InputDataError, match="different times"):
        pet_from_temperature(tmin=tn, tmax=tx.isel(time=[0]), method="hargreaves")
    with pytest.raises(InputDataError, match="not a temperature"):
        pet_from_temperature(tmin=tn, tmax=tx.assign_attrs(units="mm"), method="hargreaves")


# --------------------------------------------------------------------------- 3. accumulations
def _era5_forecast_accum(n=48):
    """Hourly forecast accumulations reset at 06 and 18 UTC: 1 mm per hour → values 1, 2, …, 12, 1, 2, …
    (the step whose period starts at 06:00 is the first of a run: label 07:00 = 1 mm)."""
    t = pd.date_range("2024-01-01 07:00", periods=n, freq="1h")
    acc = (((t - pd.Timedelta("1h")).hour - 6) % 12 + 1).to_numpy(float)
    da = make_source(np.broadcast_to(acc[:, None, None], (n, 3, 4)).copy(), X4, Y3, t, units="m")
    da.attrs["GRIB_stepType"] = "accum"
    return da, acc


def test_grib_accumulations_are_refused_then_deaccumulated():
    da, acc = _era5_forecast_accum()
    assert acc[:13].tolist() == list(range(1, 13)) + [1]
    with pytest.raises(InputDataError, match=r"accumulate.*06, 18 UTC.*deaccumulate"):
        prepare(da, make_target(X4, Y3), "1h")
    per_step = deaccumulate(da, reset_hours=(6, 18))
    np.testing.assert_allclose(per_step.values, 1.0)
    out = prepare(per_step, make_target(X4, Y3), "1h")
    np.testing.assert_allclose(out.values, 1000.0)  # 1 m per hour in mm
    assert out.sizes["time"] == 48


def test_deaccumulate_drops_steps_before_the_first_reset_and_rounds_packing_noise():
    da, _ = _era5_forecast_accum()
    da = da.isel(time=slice(3, None))  # starts mid-run (labels 10:00…): first reset period starts 18:00
    with pytest.warns(UserWarning, match="dropped 9 leading"):
        out = deaccumulate(da, reset_hours=(6, 18))
    assert pd.Timestamp(out.time.values[0]) == pd.Timestamp("2024-01-01 19:00")
    np.testing.assert_allclose(out.values, 1.0)
    v = np.array([1.0, 2.0, 2.0 - 1e-9, 3.0, 5.0, 4.0])
    t = pd.date_range("2024-01-01 01:00", periods=6, freq="1h")
    s = xr.DataArray(v, dims=("time",), coords={"time": t}, name="tp")
    d = deaccumulate(s, None)
    np.testing.assert_allclose(d.values, [1.0, 1.0, 0.0, 1.0, 2.0, -1.0], atol=1e-12)  # -1 is real: left for the checks


def test_reanalysis_hourly_tp_with_accum_attribute_passes():
    """ERA5 reanalysis hourly tp is 'accum' over one hour (already per step): no false alarm."""
    rng = np.random.default_rng(3)
    t = pd.date_range("2024-01-01 01:00", periods=72, freq="1h")
    da = make_source(rng.gamma(0.5, 0.001, (72, 3, 4)), X4, Y3, t, units="m")
    da.attrs["GRIB_stepType"] = "accum"
    out = prepare(da, make_target(X4, Y3), "1h")
    np.testing.assert_allclose(out.values, da.values * 1000.0, rtol=1e-12)


def test_one_storm_that_stops_at_once_is_not_taken_for_accumulations():
    """Per-step rain 0…, 1, 2, 3, 0… (one drop) with GRIB_stepType 'accum' (ERA5 reanalysis): read as it is, with a
    warning; accumulations that drop back at the same hour on two days are still refused."""
    t = pd.date_range("2024-01-01 01:00", periods=72, freq="1h")
    v = np.zeros(72)
    v[10:13] = [1e-3, 2e-3, 3e-3]  # rises, then stops at once after 13:00
    da = make_source(np.broadcast_to(v[:, None, None], (72, 3, 4)).copy(), X4, Y3, t, units="m")
    da.attrs["GRIB_stepType"] = "accum"
    with pytest.warns(UserWarning, match="only rise.*except on one day after 13 UTC"):
        out = prepare(da, make_target(X4, Y3), "1h")
    np.testing.assert_allclose(out.values[:, 0, 0], v * 1000.0, rtol=1e-12)
    v2 = v.copy()
    v2[34:37] = [1e-3, 2e-3, 3e-3]  # the same pattern 24 h later: a drop after 13:00 on two days
    da2 = make_source(np.broadcast_to(v2[:, None, None], (72, 3, 4)).copy(), X4, Y3, t, units="m")
    da2.attrs["GRIB_stepType"] = "accum"
    with pytest.raises(InputDataError, match="13 UTC"):
        prepare(da2, make_target(X4, Y3), "1h")
