"""An hourly calibration can find a unit-hydrograph lag (X4, in model steps) of more than 10 steps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.calibrate.core import calibrate, simulate_lumped


def test_hourly_calibration_recovers_a_two_day_lag():
    # truth: X4 = 48 h on an hourly step; the GR4J range 0.5-10 taken in model steps stopped the search at 10 h
    rng = np.random.default_rng(3)
    n = 24 * 60
    idx = pd.date_range("2024-01-01", periods=n, freq="1h")
    rain = np.where(rng.random(n) < 0.04, rng.gamma(2.0, 3.0, n), 0.0)
    pet = np.full(n, 0.15)
    truth = {"production_capacity_mm": 300.0, "exchange_mm": 0.0, "routing_capacity_mm": 80.0,
             "unit_hydrograph_steps": 48.0, "interception_capacity_mm": 0.0}
    q = simulate_lumped(rain, pet, truth, 3600.0)
    fixed = {k: v for k, v in truth.items() if k != "unit_hydrograph_steps"}
    res = calibrate(rain, pet, q, idx, parameters=["unit_hydrograph_steps"], fixed=fixed,
                    calibration=[idx[24 * 10], idx[-1]], objective="nse", maxiter=30, popsize=8, seed=1)
    assert res.parameters["unit_hydrograph_steps"] == pytest.approx(48.0, rel=0.02)
    assert res.scores["calibration"]["nse"]["score"] > 0.999
