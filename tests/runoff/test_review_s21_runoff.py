"""Review (runoff, model step and input types): a model step that is not a positive finite number of seconds, and
text where numbers belong (parameters, states), are hydro.errors exceptions.

Before: GreenAmpt(dt_seconds=inf) was accepted and turned every rain into an intensity of 0 mm/h (50 mm on a clay
ran off 0 mm instead of 36.04 mm); dt_seconds="1h" and text in parameters or states were bare ValueErrors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from hydro.errors import ConfigError, StateError
from hydro.runoff import GreenAmpt, GRParameters, RunoffModel, SCSCurveNumber


def _ga_one_step(ks, sd, p, dt_h):
    """Mein–Larson, dry start, uniform rain ``p`` mm over ``dt_h`` h: runoff [mm] by bisection (hand reference)."""
    i = p / dt_h
    fp = ks * sd / (i - ks)
    tp = fp / i
    lo, hi = fp, fp + i * dt_h
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        g = mid - fp - sd * math.log((mid + sd) / (fp + sd)) - ks * (dt_h - tp)
        lo, hi = (mid, hi) if g < 0 else (lo, mid)
    return p - 0.5 * (lo + hi)


@pytest.mark.parametrize("dt", [math.inf, math.nan, 0.0, -3600.0, "1h", None])
def test_green_ampt_step_must_be_positive_finite_seconds(dt):
    with pytest.raises(ConfigError, match="dt_seconds"):
        GreenAmpt(1.0, 300.0, 0.3, 1, dt_seconds=dt)


def test_green_ampt_numeric_step_still_gives_the_hand_value():
    # clay-like Ks 1 mm/h, psi*dtheta = 90 mm, 50 mm in one hour: ponding at Fp = 90/49 mm after 0.0367 h
    ref = _ga_one_step(1.0, 90.0, 50.0, 1.0)
    assert ref == pytest.approx(36.044134, abs=1e-5)
    for dt in (3600.0, "3600"):
        q = GreenAmpt(1.0, 300.0, 0.3, 1, dt_seconds=dt).step(np.array([50.0]))[0]
        assert q == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("dt", ["1h", None])
def test_runoff_model_step_must_be_seconds(dt):
    with pytest.raises(ConfigError, match="dt_seconds"):
        RunoffModel(GRParameters(), 2, dt)


@pytest.mark.parametrize("kw", [{"production_capacity_mm": "abc"}, {"routing_capacity_mm": ["1", "x"]},
                                {"uh_exponent": "a"}, {"unit_hydrograph_steps": "a"}])
def test_text_parameters_are_config_errors(kw):
    with pytest.raises(ConfigError):
        GRParameters(**kw)


def test_text_in_a_state_is_a_state_error_and_changes_nothing():
    m = RunoffModel(GRParameters(production_capacity_mm=100.0, routing_capacity_mm=50.0), 1, 3600.0)
    before = m.state
    with pytest.raises(StateError, match="interception_store"):
        m.set_state({"interception_store": ["a"], "production_store": [0.0], "routing_store": [0.0]})
    for k, v in m.state.items():
        np.testing.assert_array_equal(v, before[k])
    assert m.state["production_store"][0] == 50.0 and m.state["routing_store"][0] == 15.0  # 0.5·X1, 0.3·X3
    with pytest.raises(StateError, match="ga_cum_infiltration"):
        GreenAmpt(1.0, 300.0, 0.3, 1, state={"ga_cum_infiltration": ["-"]})
    with pytest.raises(StateError, match="event_cum_precip"):
        SCSCurveNumber(80.0, 1, state={"event_cum_precip": ["-"]})


def test_text_event_parameters_are_config_errors_and_numbers_still_work():
    with pytest.raises(ConfigError, match="curve number"):
        SCSCurveNumber("a", 1)
    with pytest.raises(ConfigError, match="ks_mm_h"):
        GreenAmpt("a", 300.0, 0.3, 1)
    # CN 80, 100 mm: S = 63.5 mm, Ia = 12.7 mm, Q = 87.3^2/150.8 (NEH-630)
    m = SCSCurveNumber(80.0, 2)
    np.testing.assert_allclose(m.step(np.array([100.0, 10.0])), [87.3**2 / 150.8, 0.0], rtol=1e-12)
