"""Routing review (session 18): hand-derivable checks of reservoirs, inflow boundaries and the kinematic wave.

No defect was found; these pin the verified behaviour (they pass before and after the review)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydro.routing import Inflow, Reservoir, RoutingNetwork, RoutingParameters

DX = 100.0
Y = 9_850_000.0 - 0.5 * DX
A = 1.0e6  # lake area [m2]


def _x(i):
    return 500_000.0 + (i + 0.5) * DX


def _lake(make_row, **kw):
    net, z = make_row(5, DX, 1e-3)
    res = Reservoir("lake", _x(2), Y, **{"level_m": [0.0, 1.0, 10.0], "storage_m3": [1e5, 1e5 + A, 1e5 + 10 * A],
                                         "area_m2": [A, A, A], "crest_level_m": 5.0, **kw})
    return RoutingNetwork.build(net, z, RoutingParameters(channel_threshold_m2=1.0), 3600.0, reservoirs=[res])


def test_linear_reservoir_filled_by_a_constant_inflow_follows_the_backward_euler_recurrence(make_row):
    """k = 1, C L = 5 m2 s-1, I = 10 m3 s-1 at the crest: A(h1 − hc) + Δt C (h1 − hc) = A(h0 − hc) + Δt I per
    sub-step, and within 0.5 % of the ODE solution hc + I/C (1 − exp(−C t/A)) after 5 h."""
    rn = _lake(make_row, spillway_coef=5.0, spillway_length_m=1.0, spillway_exponent=1.0)
    lat = np.zeros(rn.nvalid)
    lat[rn.reservoir_pos[0]] = 10.0
    dts, h = 3600.0 / rn.n_sub, 5.0
    for _ in range(5):
        rn.step(lat)
        for _ in range(rn.n_sub):
            h = 5.0 + (A * (h - 5.0) + dts * 10.0) / (A + dts * 5.0)
    assert rn.reservoir_levels_m()[0] == pytest.approx(h, abs=1e-12)
    assert h - 5.0 == pytest.approx(10.0 / 5.0 * (1 - np.exp(-5.0 * 5 * 3600.0 / A)), rel=5e-3)


def test_weir_spill_reaches_the_rating_level(make_row):
    """O = 1.7·10·(h − 5)^1.5 = 20 m3 s-1 at steady state: h = 5 + (20/17)^(2/3)."""
    rn = _lake(make_row)
    lat = np.zeros(rn.nvalid)
    lat[rn.reservoir_pos[0]] = 20.0
    for _ in range(2000):
        out = rn.step(lat)
    assert rn.reservoir_levels_m()[0] == pytest.approx(5.0 + (20.0 / 17.0) ** (2.0 / 3.0), abs=1e-9)
    assert out["reservoir"][0, 1] == pytest.approx(20.0 * 3600.0, rel=1e-9)


def test_abstraction_beyond_the_storage_is_limited_to_the_water_above_dead_storage(make_row):
    """Level 0.5 m: 5e5 m3 above the 1e5 m3 dead storage; a demand of 1000 m3 s-1 (3.6e6 m3) delivers 5e5 m3."""
    rn = _lake(make_row, initial_level_m=0.5)
    out = rn.step(np.zeros(rn.nvalid), reservoir_abstraction_m3s=np.array([1000.0]))
    assert out["reservoir_abstraction_m3"] == pytest.approx(5e5, rel=1e-12)
    assert out["reservoir"][0, 3] == pytest.approx(5e5, rel=1e-12)
    assert rn.reservoir_storage_m3[0] == pytest.approx(1e5, rel=1e-12)


def test_an_empty_lake_evaporates_nothing(make_row):
    """A table from storage 0 with a non-zero area: at storage 0 a PET demand takes nothing and storage stays 0."""
    rn = _lake(make_row, storage_m3=[0.0, A, 10 * A], initial_level_m=0.0)
    out = rn.step(np.zeros(rn.nvalid), reservoir_evaporation_m3=np.array([5e4]))
    assert out["reservoir_evaporation_m3"] == 0.0 and rn.reservoir_storage_m3[0] == 0.0


def test_inflow_step_reaches_the_outlet_at_the_kinematic_shock_speed(make_row):
    """Uniform channel (W = 10 m, D = 1 m, S = 1e-3), empty, a 10 m3 s-1 step at the top: the front travels at
    Q/A = Q^(1−β)/α (to 1 min over 100 cells), the outlet reaches Q, and every step in − out = ΔV."""
    n, q0 = 100, 10.0
    net, z = make_row(n, DX, 1e-3)
    t0 = pd.Timestamp("2026-01-01")
    f = Inflow("b", _x(0), Y, pd.Series([q0, q0], index=[t0, t0 + pd.Timedelta("30D")]))
    rn = RoutingNetwork.build(net, z, RoutingParameters(channel_threshold_m2=1.0, channel_substep_s=10.0), 60.0,
                              inflows=[f], channel_width_m=np.full(n, 10.0), channel_depth_m=np.full(n, 1.0))
    assert np.ptp(rn.alpha) < 1e-12
    bnd = np.zeros(rn.nvalid)
    bnd[rn.inflow_pos[0]] = q0
    outlet = []
    for _ in range(400):
        v0 = rn.reach_storage_m3()
        out = rn.step(np.zeros(rn.nvalid), bnd)
        assert q0 * 60.0 - out["outflow_m3"] - (rn.reach_storage_m3() - v0) == pytest.approx(0.0, abs=1e-6)
        outlet.append(out["q_mean"][-1])
    arrival_min = int(np.argmax(np.array(outlet) >= q0 / 2)) + 0.5
    assert arrival_min == pytest.approx(n * DX / (q0 ** 0.4 / rn.alpha[0]) / 60.0, abs=1.0)
    assert outlet[-1] == pytest.approx(q0, rel=1e-9)
