"""Review 2 of the GR operator: step-length consistency of X2/X3 and the UH exponent; daily calibration time labels.

Parameters are values at ``parameter_step_s`` (one day by default, the calibration step). The routing store obeys
``R_new^-4 = R^-4 + X3^-4`` per step, so with ``X3·(day/Δt)^(1/4)`` any step gives the same recession as a day.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.errors import ConfigError
from hydro.runoff import GRParameters, RunoffModel, step_parameters, uh_exponent_for_step

DAY = 86400.0


def _cell(dt, state, **prm):
    return RunoffModel(GRParameters(**prm), 1, dt, state={k: [v] for k, v in state.items()})


def _run_days(dt, prm, state, P_daily, E_daily):
    """Same daily forcing spread evenly over the steps of each day; daily sums of runoff, AET, exchange."""
    n = int(round(DAY / dt))
    m = _cell(dt, state, **prm)
    out = np.zeros((3, len(P_daily)))
    for d, (p, e) in enumerate(zip(P_daily, E_daily)):
        for _ in range(n):
            out[0, d] += m.step(np.array([p / n]), np.array([e / n]))[0]
            out[1, d] += m.actual_evaporation_mm[0]
            out[2, d] += m.exchange_mm[0]
    return out, m


@pytest.mark.parametrize("dt", [3600.0, 900.0, 1800.0])
def test_routing_store_recession_does_not_depend_on_the_step(dt):
    """No rain, no percolation (S = 0): one day of recession of R = 45 mm, X3 = 90 mm (daily value).

    Hand value: R_day = (45^-4 + 90^-4)^(-1/4) = 44.3231 mm, i.e. a day's runoff of 0.676885 mm whatever the step
    (old code, X3 unscaled: 9.2 mm in the first day hourly, 17.3 mm at 15 min)."""
    state = {"interception_store": 0.0, "production_store": 0.0, "routing_store": 45.0}
    prm = dict(interception_capacity_mm=0.0, production_capacity_mm=300.0, routing_capacity_mm=90.0)
    r_day = (45.0**-4 + 90.0**-4) ** -0.25
    daily, md = _run_days(DAY, prm, state, [0.0] * 3, [0.0] * 3)
    sub, ms = _run_days(dt, prm, state, [0.0] * 3, [0.0] * 3)
    assert daily[0, 0] == pytest.approx(45.0 - r_day, rel=1e-13)
    assert daily[0, 0] == pytest.approx(0.676885, abs=1e-6)
    np.testing.assert_allclose(sub[0], daily[0], rtol=1e-9)
    assert ms.state["routing_store"][0] == pytest.approx(md.state["routing_store"][0], rel=1e-12)
    # the daily value is the exact one-step GR4J update (no change at the parameter step)
    assert step_parameters(-1.3, 90.0, DAY) == (-1.3, 90.0)


def test_exchange_is_a_rate_per_parameter_step():
    """X2 = -1 mm/day, R = X3: F = X2·Δt/day·(R/X3)^3.5 = -1/24 mm in one hour (old code: -1 mm per hour)."""
    state = {"interception_store": 0.0, "production_store": 0.0, "routing_store": 50.0}
    m = _cell(3600.0, state, interception_capacity_mm=0.0, production_capacity_mm=200.0, routing_capacity_mm=50.0,
              exchange_mm=-1.0)
    m.step(np.zeros(1), np.zeros(1))
    assert m.exchange_mm[0] == pytest.approx(-1.0 / 24.0, rel=1e-14)
    # GR4H values (per hour) are used unchanged with parameter_step_s = 3600
    h = _cell(3600.0, state, interception_capacity_mm=0.0, production_capacity_mm=200.0, routing_capacity_mm=50.0,
              exchange_mm=-1.0, parameter_step_s=3600.0)
    q = h.step(np.zeros(1), np.zeros(1))[0]
    assert h.exchange_mm[0] == pytest.approx(-1.0, rel=1e-14)
    assert q == pytest.approx(49.0 - (49.0**-4 + 50.0**-4) ** -0.25, rel=1e-13)


def test_daily_rain_as_24_hourly_steps_keeps_the_water_balance():
    """Two years of the same daily rain, given as 1 daily or 24 hourly steps (X2 = -1 mm/d, X3 = 90 mm).

    Measured before the fix: runoff 547 (daily) vs 469 mm (hourly, -14 %), exchange -74 vs -167 mm, final
    routing store 45.9 vs 23.5 mm. After: 547 vs 537 mm, -74 vs -76 mm, 45.9 vs 46.2 mm."""
    rng = np.random.default_rng(1)
    nd = 730
    P = rng.gamma(0.5, 14.0, nd) * (rng.random(nd) < 0.55)
    E = np.full(nd, 4.0)
    prm = dict(interception_capacity_mm=0.0, production_capacity_mm=300.0, routing_capacity_mm=90.0, exchange_mm=-1.0)
    state = {"interception_store": 0.0, "production_store": 150.0, "routing_store": 30.0}
    d, md = _run_days(DAY, prm, state, P, E)
    h, mh = _run_days(3600.0, prm, state, P, E)
    q_d, q_h = d[0].sum(), h[0].sum()
    assert q_h == pytest.approx(q_d, rel=0.03)
    assert h[2].sum() == pytest.approx(d[2].sum(), rel=0.06)
    assert h[1].sum() == pytest.approx(d[1].sum(), rel=0.01)
    assert mh.state["routing_store"][0] == pytest.approx(md.state["routing_store"][0], rel=0.03)
    # both close their balance: P + exchange = AET + runoff + Δstorage
    for out, m in ((d, md), (h, mh)):
        ds = m.storage_mm()[0] - 180.0
        assert P.sum() + out[2].sum() - out[1].sum() - out[0].sum() - ds == pytest.approx(0.0, abs=1e-9)


def test_lumped_runoffmodel_equals_series_kernel_at_an_hourly_step():
    """RunoffModel (default uh_exponent) and simulate_lumped use the same step rules: UH exponent 5/4 below a day
    (the old GRParameters default was 5/2 whatever the step), X2 and X3 scaled from the daily values."""
    from hydro.calibrate import simulate_lumped

    rng = np.random.default_rng(7)
    P, E = rng.gamma(0.4, 2.0, 300), rng.uniform(0.0, 0.3, 300)
    prm = dict(production_capacity_mm=250.0, exchange_mm=-0.8, routing_capacity_mm=70.0, unit_hydrograph_steps=6.5,
               interception_capacity_mm=1.0)
    ref = simulate_lumped(P, E, prm, dt_seconds=3600.0)
    m = RunoffModel(GRParameters(**prm), 1, 3600.0,
                    state={"interception_store": [0.0], "production_store": [75.0], "routing_store": [35.0],
                           "uh1": np.zeros((1, 7)), "uh2": np.zeros((1, 13))})
    out = np.array([m.step(np.array([p]), np.array([e]))[0] for p, e in zip(P, E)])
    np.testing.assert_array_equal(out, ref)
    assert uh_exponent_for_step(3600.0) == 1.25 and uh_exponent_for_step(DAY) == 2.5
    with pytest.raises(ConfigError, match="parameter_step_s"):
        GRParameters(parameter_step_s=0.0)


def test_gridded_calibration_input_with_time_bounds_is_not_shifted(tmp_path):
    """A daily NetCDF with CF time bounds [D, D+1) labelled at D: the rain of day D must drive day D.

    open_forcing labels each period by its end (D+1); the old code then read the label as a day start and put every
    day's rain one day late (day 1 lost, P(2001-01-02) = rain of 2001-01-01)."""
    import xarray as xr

    from hydro.calibrate.run import _gridded_series

    idx = pd.date_range("2001-01-01", periods=10, freq="D")
    rain = np.arange(1.0, 11.0)
    bnds = np.stack([idx.values, (idx + pd.Timedelta("1D")).values], axis=1)
    for name, val in (("pr", rain), ("pet", np.full(10, 3.0))):
        ds = xr.Dataset({name: (("time", "lat", "lon"), val[:, None, None] * np.ones((1, 2, 2)), {"units": "mm"}),
                         "time_bnds": (("time", "nv"), bnds)},
                        coords={"time": idx, "lat": [0.0, 1.0], "lon": [0.0, 1.0]})
        ds["time"].attrs["bounds"] = "time_bnds"
        ds["time"].encoding["units"] = "days since 2000-01-01"
        ds["time_bnds"].encoding["units"] = "days since 2000-01-01"
        ds.to_netcdf(tmp_path / f"{name}.nc")
    pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "q": np.ones(10)}).to_csv(tmp_path / "q.csv", index=False)
    cfg = dict(precipitation_netcdf="pr.nc", precipitation_variable="pr", pet_netcdf="pet.nc", pet_variable="pet",
               discharge_csv="q.csv", discharge_column="q")
    df = _gridded_series(cfg, tmp_path)
    assert list(df.index) == list(idx)
    np.testing.assert_array_equal(df["P"].values, rain)
