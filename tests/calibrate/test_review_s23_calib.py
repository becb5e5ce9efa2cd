"""Review of hydro.calibrate (optimiser and scoring): constant observations with round-off, SCE-UA budget,
periods with a UTC offset, a pandas simulator, ``parameters`` given as one string.

Self-contained: imports ``hydro`` only; the TOML case uses the shipped ``inputs/calibration/synthetic_catchment.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hydro
from hydro.calibrate import calibrate, calibrate_series, kge, kge_prime, nse, run_calibration
from hydro.calibrate.sceua import sce_ua
from hydro.errors import ConfigError, InputDataError
from tests.calibrate.configs import synthetic_csv_config

REPO = Path(hydro.__file__).resolve().parents[1]


@pytest.mark.parametrize("metric", [nse, kge, kge_prime])
@pytest.mark.parametrize("value", [0.1, 0.2, 0.7])
def test_constant_observations_with_round_off_are_errors(metric, value):
    """o = (v, v, v): Σ(o − ō)² = 0 and σo = 0 by hand, so NSE, KGE and KGE' are undefined (InputDataError, as for
    o = 3, 3, 3, 3). Before: the mean of three 0.1 is 0.10000000000000002, σo = 1.4e-17, and NSE = -8.7e31,
    KGE = -5.9e15 (α = 5.9e15) were returned as scores."""
    o = np.full(3, value)
    s = np.array([0.1, 0.2, 0.3])
    with pytest.raises(InputDataError, match="constant|undefined"):
        metric(s, o)
    # the same after the NaN steps are dropped (paired): o = v, v, v on the common valid steps
    with pytest.raises(InputDataError, match="constant|undefined"):
        metric(np.append(s, 5.0), np.append(o, np.nan))


@pytest.mark.parametrize("budget,n", [(10, 4), (50, 4), (100, 4), (50, 2), (100, 2), (50, 1)])
def test_sce_ua_never_exceeds_max_evaluations(budget, n):
    """``cost`` is called at most ``max_evaluations`` times (m = 2n+1 ≤ budget in every case: 9, 5, 3).
    Before: 36 calls for a budget of 10 (4 complexes × 9 points), 80 for 50 and 135 for 100 (n = 4), 71 for
    50 (n = 2): the budget was only checked between shuffling loops (4 complexes × m steps × up to 3 calls)."""
    calls = []

    def f(x):
        v = float(np.sum((x - 0.3) ** 2))
        calls.append(v)
        return v

    x, fx = sce_ua(f, np.zeros(n), np.ones(n), seed=1, max_evaluations=budget)
    assert len(calls) <= budget
    assert fx == min(calls) and np.all((x >= 0) & (x <= 1))  # the best point evaluated, inside the box


def test_calibrate_series_sce_ua_budget():
    """calibrate_series gives SCE-UA maxiter × popsize × n = 1 × 5 × 4 = 20 evaluations (before: 36, the first
    population of 4 complexes × 9 points alone)."""
    idx = pd.date_range("2001-01-01", periods=60, freq="D")
    q = np.arange(60.0) % 7 + 1.0

    def sim(p):
        return q * p["a"] + p["b"] + 0.0 * (p["c"] + p["d"])

    bounds = {k: (0.5, 2.0) for k in "abcd"}
    r = calibrate_series(sim, q, idx, parameters=list("abcd"), bounds=bounds, calibration=("2001-01-11", "2001-03-01"),
                         optimiser="sce-ua", maxiter=1, popsize=5, objective="nse")
    assert r.n_evaluations <= 20


def test_period_with_a_utc_offset_is_a_config_error_in_the_api():
    """Naive dates, a period at +10:00. Before: TypeError 'Cannot compare tz-naive and tz-aware timestamps'."""
    idx = pd.date_range("2001-01-01", periods=40, freq="D")
    q = np.arange(40.0) % 7 + 1.0
    with pytest.raises(ConfigError, match="offset"):
        calibrate_series(lambda p: q * p["a"], q, idx, parameters=["a"], bounds={"a": (0.5, 2.0)},
                         calibration=("2001-01-05T00:00+10:00", "2001-02-01"), maxiter=2, popsize=3)


@pytest.mark.parametrize("periods", [
    'calibration = [2021-01-01T00:00:00+10:00, 2022-06-30T00:00:00+10:00]',       # TOML offset date-times
    'calibration = ["2021-01-01T00:00:00+10:00", "2022-06-30T00:00:00+10:00"]',   # ISO strings
])
def test_period_with_a_utc_offset_is_a_config_error_in_the_toml(tmp_path, periods):
    """Before: a raw TypeError (exit 1 with a traceback) from comparing the period with the CSV's local dates."""
    if not (REPO / "inputs" / "calibration" / "synthetic_catchment.csv").is_file():
        pytest.skip("inputs/calibration/synthetic_catchment.csv not found next to hydro/")
    with pytest.raises(ConfigError, match="offset"):
        run_calibration(synthetic_csv_config(tmp_path, periods=periods))
    assert not (tmp_path / "out").exists()


def test_simulated_series_of_a_pandas_simulator_is_kept():
    """simulate returns a pandas Series (default RangeIndex): the result's simulated series is q × a.
    Before: pd.Series(sim, index=dates) realigned it on the dates: all 40 values NaN, while the scores were
    computed on the values (NSE 0.999)."""
    idx = pd.date_range("2001-01-01", periods=40, freq="D")
    q = np.arange(40.0) % 7 + 1.0
    r = calibrate_series(lambda p: pd.Series(q * p["a"]), q, idx, parameters=["a"], bounds={"a": (0.5, 2.0)},
                         calibration=("2001-01-05", "2001-02-01"), maxiter=2, popsize=3)
    a = r.parameters["a"]
    assert np.array_equal(r.simulated.values, q * a)  # e.g. step 0: q = 1 → 1 × a
    assert r.simulated.index.equals(idx)


def test_parameters_given_as_one_string_is_a_clear_error():
    """``parameters = "exchange_mm"`` (a string, not a list). Before: "unknown parameter 'e'" (calibrate, i.e. a
    TOML with parameters as a string) and "no bounds for calibrated parameter 'a'" (calibrate_series, "ab")."""
    idx = pd.date_range("2001-01-01", periods=400, freq="D")
    P, E, Q = np.full(400, 3.0), np.full(400, 2.0), np.arange(400.0) % 5 + 0.5
    with pytest.raises(ConfigError, match="list of names"):
        calibrate(P, E, Q, idx, parameters="exchange_mm", calibration=("2001-03-01", "2001-12-31"))
    with pytest.raises(ConfigError, match="list of names"):
        calibrate_series(lambda p: Q, Q, idx, parameters="ab", bounds={"ab": (0.0, 1.0), "a": (0.0, 1.0),
                                                                         "b": (0.0, 1.0)},
                         calibration=("2001-03-01", "2001-12-31"))
