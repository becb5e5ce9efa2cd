"""Event mode: SCS Curve Number (NEH-630 ch. 10) and Green–Ampt (Mein–Larson)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from hydro.errors import ConfigError, InputDataError
from hydro.runoff import GreenAmpt, SCSCurveNumber, amc_class_from_fill, curve_number_for_amc


def test_scs_matches_neh630_formula_cumulatively():
    """CN 80, 100 mm: S = 25400/80 − 254 = 63.5 mm, Ia = 12.7 mm, Q = 87.3²/150.8 = 7621.29/150.8 = 50.539 mm."""
    m = SCSCurveNumber(80.0, 1)
    assert m.retention_mm[0] == pytest.approx(63.5, rel=1e-14)
    rain = [5.0, 5.0, 2.7, 30.0, 40.0, 17.3]  # sums to 100 mm; Ia reached exactly after 12.7 mm
    q = [m.step(np.array([p]))[0] for p in rain]
    assert q[0] == 0.0 and q[1] == 0.0 and q[2] == 0.0
    assert sum(q) == pytest.approx(87.3**2 / 150.8, rel=1e-12)
    assert sum(q) == pytest.approx(50.539, abs=5e-4)
    # water retained = P - Q
    assert m.storage_mm()[0] == pytest.approx(100.0 - sum(q), rel=1e-12)


def test_scs_amc_and_lambda_conversion():
    cn = np.array([60.0, 80.0, 95.0])
    assert curve_number_for_amc(cn, 1) == pytest.approx(4.2 * cn / (10 - 0.058 * cn))
    assert curve_number_for_amc(cn, 3) == pytest.approx(23 * cn / (10 + 0.13 * cn))
    np.testing.assert_array_equal(amc_class_from_fill([0.1, 0.5, 0.9]), [1, 2, 3])
    dry = SCSCurveNumber(cn, 3, amc={"production_store": [20.0, 100.0, 180.0], "production_capacity_mm": 200.0})
    np.testing.assert_array_equal(dry.amc, [1, 2, 3])
    m05 = SCSCurveNumber(80.0, 1, lambda_=0.05)
    assert m05.retention_mm[0] == pytest.approx(1.33 * (63.5 / 25.4) ** 1.15 * 25.4, rel=1e-12)
    with pytest.raises(ConfigError):
        SCSCurveNumber(80.0, 1, lambda_=0.1)
    with pytest.raises(ConfigError):
        SCSCurveNumber(120.0, 1)


def _ga_exact(t_h, i, ks, sd):
    """Cumulative infiltration under constant rain i from a dry start (Mein–Larson)."""
    if i <= ks:
        return i * t_h
    Fp = ks * sd / (i - ks)
    tp = Fp / i
    if t_h <= tp:
        return i * t_h
    g = lambda F: F - Fp - sd * math.log((F + sd) / (Fp + sd)) - ks * (t_h - tp)  # noqa: E731
    return brentq(g, Fp, Fp + i * t_h + 1.0, xtol=1e-14)


@pytest.mark.parametrize("i_mm_h", [5.0, 20.0, 60.0])
def test_green_ampt_matches_implicit_equation(i_mm_h):
    """Silt loam (Rawls et al. 1983): Ks = 6.5 mm/h, ψ = 166.8 mm, Δθ = 0.3; steps of 15 min."""
    ks, psi, dth = 6.5, 166.8, 0.3
    m = GreenAmpt(ks, psi, dth, 1, dt_seconds=900.0)
    total_q = 0.0
    for k in range(1, 17):
        total_q += m.step(np.array([i_mm_h * 0.25]))[0]
        F = m.state["ga_cum_infiltration"][0]
        assert F == pytest.approx(_ga_exact(0.25 * k, i_mm_h, ks, psi * dth), rel=1e-9, abs=1e-9)
    assert total_q + m.storage_mm()[0] == pytest.approx(i_mm_h * 4.0, rel=1e-13)
    if i_mm_h <= ks:
        assert total_q == 0.0


def test_green_ampt_inputs():
    with pytest.raises(ConfigError):
        GreenAmpt(-1.0, 100.0, 0.3, 2)
    m = GreenAmpt(10.0, 100.0, 0.3, 2)
    with pytest.raises(InputDataError):
        m.step(np.array([1.0, np.nan]))
