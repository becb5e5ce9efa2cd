"""Review of hydro.calibrate: hand-computed objectives, NaN gaps, warm-up, time steps, bounds, seeds.

Real-data checks use ../shared/data/runoff (skipped with the reason when absent).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hydro.calibrate import calibrate, calibrate_series, kge, kge_prime, nse, simulate_lumped
from hydro.errors import ConfigError, InputDataError

O = np.array([1.0, 2.0, 3.0, 4.0])
S = np.array([2.0, 2.0, 4.0, 6.0])


def test_objectives_against_hand_computation():
    """o = 1,2,3,4; s = 2,2,4,6. ō 2.5, Σ(o−ō)² 5, Σ(s−o)² 6 → NSE −0.2. μs 3.5 → β 1.4;
    σo² 5/4, σs² 11/4 → α √2.2; cov 7/4 → r 1.75/√(2.75·1.25); γ = α/β."""
    assert nse(S, O)["score"] == pytest.approx(-0.2, rel=1e-14)
    r = 1.75 / math.sqrt(2.75 * 1.25)
    a, b = math.sqrt(2.2), 1.4
    k = kge(S, O)
    assert (k["r"], k["alpha"], k["beta"], k["n"]) == (pytest.approx(r, rel=1e-14), pytest.approx(a, rel=1e-14),
                                                       pytest.approx(b, rel=1e-14), 4)
    assert k["score"] == pytest.approx(1 - math.sqrt((r - 1) ** 2 + (a - 1) ** 2 + (b - 1) ** 2), rel=1e-14)
    kp = kge_prime(S, O)
    g = a / b
    assert kp["gamma"] == pytest.approx(g, rel=1e-14) and kp["beta"] == pytest.approx(b, rel=1e-14)
    assert kp["score"] == pytest.approx(1 - math.sqrt((r - 1) ** 2 + (g - 1) ** 2 + (b - 1) ** 2), rel=1e-14)
    # NaN gaps in either series: scored on the common valid steps only
    s_gap = np.array([7.0, 5.0, 2.0, 2.0, 4.0, 6.0, np.nan])
    o_gap = np.array([np.nan, np.nan, 1.0, 2.0, 3.0, 4.0, 8.0])
    assert nse(s_gap, o_gap)["score"] == pytest.approx(-0.2, rel=1e-14) and nse(s_gap, o_gap)["n"] == 4
    with pytest.raises(InputDataError, match="constant"):
        nse(S, np.full(4, 3.0))
    with pytest.raises(InputDataError, match="undefined"):
        kge(S, np.full(4, 3.0))


def synthetic(n=730, seed=5):
    from tests.calibrate.test_calibrate import synthetic as base

    return base(n, seed, production_capacity_mm=300.0, unit_hydrograph_steps=2.0)


KW = dict(calibration=("2001-07-01", "2002-12-31"), maxiter=4, popsize=5, seed=3)


def test_constant_observed_is_a_clear_error_before_the_search():
    P, E, Q, idx, _ = synthetic()
    for obj in ("nse", "kge", "kge_prime"):
        # before: a RuntimeError from inside scipy's map ("The map-like callable must be ...")
        with pytest.raises(InputDataError, match="constant"):
            calibrate(P, E, np.full(Q.size, 2.0), idx, objective=obj, **KW)
    q = np.full(Q.size, np.nan)
    q[200:205] = Q[200:205]
    with pytest.raises(InputDataError, match="at least 10"):
        calibrate(P, E, q, idx, **KW)


def test_nan_gaps_and_warmup_are_not_scored():
    """The objective at the optimum equals the hand score on the calibration days with an observation;
    changing discharge in the warm-up (or on missing days) does not change the result."""
    P, E, Q, idx, _ = synthetic()
    q = Q.copy()
    q[200:260] = np.nan  # a 60-day gap inside the calibration period (starts 2001-07-01 = step 181)
    r = calibrate(P, E, q, idx, objective="nse", **KW)
    cal = (idx >= "2001-07-01") & (idx <= "2002-12-31")
    sim = r.simulated.values
    ok = cal & np.isfinite(q)
    assert r.scores["calibration"]["nse"]["n"] == int(ok.sum()) == 549 - 60
    hand = 1 - np.sum((sim[ok] - q[ok]) ** 2) / np.sum((q[ok] - q[ok].mean()) ** 2)
    assert r.scores["calibration"]["nse"]["score"] == pytest.approx(hand, rel=1e-12)
    q2 = q.copy()
    q2[:181] = 1000.0  # absurd warm-up discharge: not scored
    r2 = calibrate(P, E, q2, idx, objective="nse", **KW)
    assert r2.parameters == r.parameters and r2.scores == r.scores


def test_time_step_must_match_the_dates():
    P, E, Q, idx, _ = synthetic(400)
    hourly = pd.date_range("2001-01-01", periods=400, freq="h")
    # before: hourly dates with the default daily dt ran a daily model on hourly amounts silently
    with pytest.raises(InputDataError, match="1 hours? apart|01:00:00 apart"):
        calibrate(P, E, Q, hourly, calibration=("2001-01-03", "2001-01-15"), dt_seconds=86400.0, maxiter=2, popsize=5)
    with pytest.raises(InputDataError, match="gap or irregular"):
        calibrate(P, E, Q, idx.delete(10).append(pd.DatetimeIndex(["2003-01-01"])), **{**KW, "calibration":
                                                                                        ("2001-03-01", "2001-12-31")})
    with pytest.raises(InputDataError, match="negative"):
        calibrate(P, E, np.where(np.arange(400) == 100, -1.0, Q), idx, calibration=("2001-03-01", "2001-12-31"))
    with pytest.raises(InputDataError, match="infinite"):
        calibrate(P, E, np.where(np.arange(400) == 100, np.inf, Q), idx, calibration=("2001-03-01", "2001-12-31"))


@pytest.mark.parametrize("bounds,match", [
    ({"exchange_mm": (5.0, -5.0)}, "inverted"),
    ({"production_capacity_mm": (0.0, 100.0)}, "physical range"),   # before: ValueError math domain error
    ({"routing_capacity_mm": (-5.0, 100.0)}, "physical range"),
    ({"unit_hydrograph_steps": (-1.0, 2.0)}, "physical range"),     # before: accepted
    ({"exchange_mm": (float("nan"), 5.0)}, "not finite"),
    ({"X1": (10.0, 100.0)}, "unknown parameter"),                   # before: silently ignored
])
def test_bad_bounds_are_clear_errors(bounds, match):
    P, E, Q, idx, _ = synthetic(400)
    with pytest.raises(ConfigError, match=match):
        calibrate(P, E, Q, idx, bounds=bounds, calibration=("2001-03-01", "2001-12-31"))


def test_bad_fixed_values_and_generic_log_bounds():
    P, E, Q, idx, _ = synthetic(400)
    cal = ("2001-03-01", "2001-12-31")
    with pytest.raises(ConfigError, match="physical range"):
        calibrate(P, E, Q, idx, parameters=["exchange_mm"], fixed={"production_capacity_mm": -5.0}, calibration=cal)
    with pytest.raises(ConfigError, match="both calibrated and fixed"):
        calibrate(P, E, Q, idx, fixed={"exchange_mm": 0.0}, calibration=cal)
    with pytest.raises(ConfigError, match="log space"):
        calibrate_series(lambda p: Q, Q, idx, parameters=["a"], bounds={"a": (0.0, 1.0)},
                         log_parameters=frozenset({"a"}), calibration=cal)


@pytest.mark.parametrize("optimiser", ["differential_evolution", "sce-ua"])
def test_seed_reproducibility(optimiser):
    P, E, Q, idx, _ = synthetic(500)
    kw = dict(calibration=("2001-07-01", "2002-05-15"), maxiter=5, popsize=5, optimiser=optimiser)
    a = calibrate(P, E, Q, idx, seed=11, **kw)
    b = calibrate(P, E, Q, idx, seed=11, **kw)
    c = calibrate(P, E, Q, idx, seed=12, **kw)
    assert a.parameters == b.parameters and a.scores == b.scores and a.n_evaluations == b.n_evaluations
    assert a.parameters != c.parameters


def test_failed_simulation_is_not_scored_on_fewer_days():
    """A simulator returning NaN on some observed days gets the worst cost, not a score on the rest."""
    P, E, Q, idx, _ = synthetic(400)

    def sim(p):
        q = simulate_lumped(P, E, {"production_capacity_mm": p["x1"]})
        if p["x1"] > 200:  # "good" region that fails on half the days
            q = q.copy()
            q[::2] = np.nan
        return q

    r = calibrate_series(sim, simulate_lumped(P, E, {"production_capacity_mm": 500.0}), idx, parameters=["x1"],
                         bounds={"x1": (50.0, 1000.0)}, calibration=("2001-03-01", "2001-12-31"), maxiter=5,
                         popsize=8, objective="nse", seed=1)
    assert r.parameters["x1"] <= 200


def test_real_catchment_with_discharge_gaps():
    """CAMELS-FR E645651001 (La Nièvre, 429 missing discharge days): scored on valid days only."""
    from tests.conftest import shared_file

    df = pd.read_csv(shared_file("runoff", "camels_fr_airgrdatasets", "E645651001.csv"), parse_dates=["date"])
    df = df[(df["date"] >= "1999-01-01") & (df["date"] <= "2004-12-31")]
    P, E, Q = (df[c].to_numpy(float) for c in ("P_mm_d", "PET_oudin_mm_d", "Q_mm_d"))
    idx = pd.DatetimeIndex(df["date"])
    r = calibrate(P, E, Q, idx, calibration=("2000-01-01", "2004-12-31"), objective="kge", maxiter=6, popsize=6, seed=1)
    cal = (idx >= "2000-01-01") & np.isfinite(Q)
    assert r.scores["calibration"]["kge"]["n"] == int(cal.sum())
    assert int(cal.sum()) < int((idx >= "2000-01-01").sum())  # the period has gaps
    s = r.simulated.values[cal]
    o = Q[cal]
    beta = s.mean() / o.mean()
    assert r.scores["calibration"]["kge"]["beta"] == pytest.approx(beta, rel=1e-12)
    assert r.scores["calibration"]["kge"]["score"] > 0.5


@pytest.mark.parametrize("name,value", [("production_capacity_mm", 0.0), ("routing_capacity_mm", 0.0),
                                        ("routing_capacity_mm", -5.0), ("exchange_mm", math.nan),
                                        ("interception_capacity_mm", -1.0), ("unit_hydrograph_steps", math.inf)])
def test_simulate_lumped_refuses_parameters_outside_their_physical_range(name, value):
    """The kernels do not check their parameters (a zero capacity divides by zero: NaN or wrong runoff, silently
    with numba's numpy error model): simulate_lumped refuses them, naming the parameter."""
    P, E = np.full(5, 3.0), np.full(5, 1.0)
    with pytest.raises(ConfigError, match=name):
        simulate_lumped(P, E, {name: value})
    assert np.all(np.isfinite(simulate_lumped(P, E, {})))
