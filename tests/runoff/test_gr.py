"""GR cell operator: hand-computed steps, peer GR4J parity, water balance and store bounds."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydro.errors import ConfigError, InputDataError, StateError
from hydro.runoff import GRParameters, RunoffModel, percolation_constant


def one_cell(**kw):
    state = kw.pop("state")
    dt = kw.pop("dt", 86400.0)
    m = RunoffModel(GRParameters(**kw), 1, dt, state={k: [v] for k, v in state.items()})
    return m


def test_percolation_constants():
    assert percolation_constant("daily") == pytest.approx(2.25**4, rel=1e-15)
    assert percolation_constant(86400.0) == pytest.approx(2.25**4, rel=1e-14)
    assert percolation_constant("hourly") == pytest.approx(5.25**4, rel=1e-15)
    assert percolation_constant(3600.0) == pytest.approx(5.25**4, rel=1e-13)
    assert 2.25**4 < percolation_constant(900.0 * 4 * 6) < 5.25**4
    with pytest.raises(ConfigError):
        percolation_constant(-1.0)
    for dt in (math.inf, math.nan, 0.0):  # an infinite step gave K = 0 and NaN stores (not an error)
        with pytest.raises(ConfigError, match="positive and finite"):
            percolation_constant(dt)
        with pytest.raises(ConfigError, match="positive and finite"):
            RunoffModel(GRParameters(), 3, dt)


def test_production_store_hand_computed_rain_step():
    """X1 = 200, S = 100, P = 20, E = 5, no interception, no routing exchange (daily)."""
    m = one_cell(interception_capacity_mm=0.0, production_capacity_mm=200.0, routing_capacity_mm=50.0,
                 state={"interception_store": 0.0, "production_store": 100.0, "routing_store": 10.0})
    q = m.step(np.array([20.0]), np.array([5.0]))[0]
    # hand: Pn = 15, En = 0; tP = tanh(15/200) = 0.0748596...; S/X1 = 0.5
    tP = math.tanh(0.075)
    Ps = 200 * (1 - 0.25) * tP / (1 + 0.5 * tP)
    S = 100 + Ps
    perc = S * (1 - (1 + (S / 200) ** 4 / 2.25**4) ** -0.25)
    S -= perc
    Pr = 15 - Ps + perc
    R = 10 + 0.9 * Pr
    Qr = R * (1 - (1 + (R / 50) ** 4) ** -0.25)
    assert Ps == pytest.approx(10.82382, abs=1e-5)  # 150·0.0748597/1.0374299
    assert m.state["production_store"][0] == pytest.approx(S, rel=1e-14)
    assert m.state["routing_store"][0] == pytest.approx(R - Qr, rel=1e-14)
    assert q == pytest.approx(Qr + 0.1 * Pr, rel=1e-14)
    assert m.actual_evaporation_mm[0] == pytest.approx(5.0, rel=1e-15)


def test_production_store_hand_computed_dry_step_and_interception():
    """P = 1, E = 4, c_i = 2 with I = 0.5: E_i = 1.5, P_n = 0, E_n = 2.5 taken from S."""
    m = one_cell(interception_capacity_mm=2.0, production_capacity_mm=300.0, routing_capacity_mm=80.0,
                 state={"interception_store": 0.5, "production_store": 150.0, "routing_store": 0.0})
    q = m.step(np.array([1.0]), np.array([4.0]))[0]
    tE = math.tanh(2.5 / 300.0)
    Es = 150.0 * (2 - 0.5) * tE / (1 + 0.5 * tE)
    S = 150.0 - Es
    perc = S * (1 - (1 + (S / 300) ** 4 / 2.25**4) ** -0.25)
    assert m.state["interception_store"][0] == 0.0
    assert m.actual_evaporation_mm[0] == pytest.approx(1.5 + Es, rel=1e-14)
    assert m.state["production_store"][0] == pytest.approx(S - perc, rel=1e-14)
    R = 0.9 * perc
    assert q == pytest.approx(R * (1 - (1 + (R / 80) ** 4) ** -0.25) + 0.1 * perc, rel=1e-12)


def test_interception_fills_before_throughfall():
    m = one_cell(interception_capacity_mm=2.0, production_capacity_mm=300.0, routing_capacity_mm=80.0,
                 state={"interception_store": 0.0, "production_store": 0.0, "routing_store": 0.0}, dt=3600.0)
    q = m.step(np.array([1.5]), np.array([0.0]))
    assert m.state["interception_store"][0] == 1.5
    assert q[0] == 0.0 and m.state["production_store"][0] == 0.0
    m.step(np.array([1.0]), np.array([0.0]))  # 0.5 fills the store, 0.5 is net rain
    assert m.state["interception_store"][0] == 2.0
    assert m.state["production_store"][0] > 0.0


def test_exchange_and_impervious_fraction():
    m = one_cell(interception_capacity_mm=0.0, production_capacity_mm=200.0, routing_capacity_mm=50.0,
                 exchange_mm=-1.0, impervious_fraction=0.25,
                 state={"interception_store": 0.0, "production_store": 100.0, "routing_store": 50.0})
    s0 = m.storage_mm()
    q = m.step(np.array([8.0]), np.array([0.0]))
    # F = X2 (R/X3)^3.5 = -1 applied to the routing store and (clipped) to the direct branch
    assert m.exchange_mm[0] < 0
    assert m.exchange_mm[0] >= -2 * 0.75 - 1e-12
    bal = 8.0 + m.exchange_mm - m.actual_evaporation_mm - (m.storage_mm() - s0) - q
    assert abs(bal[0]) <= 1e-12
    assert q[0] >= 0.25 * 8.0  # the impervious part runs off directly


def test_lumped_matches_peer_gr4j_hydrogr():
    """Interception 0 + GR4J unit hydrographs = GR4J: compare with hydrogr's Rust GR4J."""
    hydrogr = pytest.importorskip("hydrogr._hydrogr")
    from hydro.calibrate import simulate_lumped

    rng = np.random.default_rng(3)
    P = rng.gamma(0.4, 10.0, 1500) * (rng.random(1500) < 0.5)
    E = 2.0 + 1.5 * np.sin(np.arange(1500) * 2 * np.pi / 365.25)
    for x in ([350.0, 0.0, 90.0, 1.7], [800.0, -1.2, 40.0, 3.4], [120.0, 0.8, 300.0, 0.7]):
        _, _, _, q = hydrogr.gr4j(x, P, E, np.array([0.3 * x[0], 0.5 * x[2]]), np.zeros(20), np.zeros(40))
        ours = simulate_lumped(P, E, dict(production_capacity_mm=x[0], exchange_mm=x[1], routing_capacity_mm=x[2],
                                          unit_hydrograph_steps=x[3], interception_capacity_mm=0.0))
        q = np.asarray(q)
        assert np.max(np.abs(ours - q)) <= 1e-7 * max(1.0, q.max())


def test_lumped_runoffmodel_equals_series_kernel():
    """RunoffModel with UHs stepped one cell at a time = the lumped time-loop kernel (same code)."""
    from hydro.calibrate import simulate_lumped

    rng = np.random.default_rng(5)
    P, E = rng.gamma(0.5, 6.0, 200), rng.uniform(0, 4, 200)
    prm = dict(production_capacity_mm=250.0, exchange_mm=-0.4, routing_capacity_mm=70.0, unit_hydrograph_steps=2.3,
               interception_capacity_mm=1.5)
    ref = simulate_lumped(P, E, prm)
    m = RunoffModel(GRParameters(**prm), 1, 86400.0,
                    state={"interception_store": [0.0], "production_store": [75.0], "routing_store": [35.0],
                           "uh1": np.zeros((1, 3)), "uh2": np.zeros((1, 5))})
    out = []
    for p, e in zip(P, E):
        out.append(m.step(np.array([p]), np.array([e]))[0])
    np.testing.assert_array_equal(np.array(out), ref)


@given(
    x1=st.floats(1.0, 2000.0), x3=st.floats(1.0, 1000.0), ci=st.floats(0.0, 5.0), x2=st.floats(-5.0, 5.0),
    fimp=st.floats(0.0, 1.0), s_fill=st.floats(0.0, 1.0), r_fill=st.floats(0.0, 1.5), i_fill=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31), uh=st.sampled_from([None, 0.5, 2.7]),
)
def test_water_balance_and_bounds_property(x1, x3, ci, x2, fimp, s_fill, r_fill, i_fill, seed, uh):
    rng = np.random.default_rng(seed)
    n = 64
    prm = GRParameters(interception_capacity_mm=ci, production_capacity_mm=x1, routing_capacity_mm=x3,
                       exchange_mm=x2, impervious_fraction=fimp, unit_hydrograph_steps=uh)
    state = {"interception_store": np.full(n, i_fill * ci), "production_store": np.full(n, s_fill * x1),
             "routing_store": np.full(n, r_fill * x3)}
    if uh is not None:
        o = RunoffModel(prm, 1, 3600.0)
        state["uh1"] = np.zeros((n, o.state["uh1"].shape[1]))
        state["uh2"] = np.zeros((n, o.state["uh2"].shape[1]))
    m = RunoffModel(prm, n, 3600.0, state=state)
    for _ in range(5):
        P = rng.gamma(0.3, 20.0, n) * (rng.random(n) < 0.6)
        E = rng.uniform(0.0, 1.0, n)
        s0 = m.storage_mm()
        q = m.step(P, E)
        bal = P + m.exchange_mm - m.actual_evaporation_mm - (m.storage_mm() - s0) - q
        assert np.max(np.abs(bal)) <= 1e-12 * max(1.0, np.max(s0) / 100.0)
        s = m.state
        assert np.all(q >= 0)
        assert np.all(s["interception_store"] >= 0) and np.all(s["interception_store"] <= ci * (1 + 1e-15))
        assert np.all(s["production_store"] >= 0) and np.all(s["production_store"] <= x1 * (1 + 1e-15))
        assert np.all(s["routing_store"] >= 0)
        assert np.all(m.actual_evaporation_mm <= E + 1e-12)


def test_parameter_maps_and_restart_bit_for_bit():
    ny, nx = 4, 5
    x1 = np.linspace(100, 600, ny * nx).reshape(ny, nx)
    prm = GRParameters(production_capacity_mm=x1, routing_capacity_mm=np.full((ny, nx), 40.0))
    rng = np.random.default_rng(1)
    forcing = [(rng.gamma(0.5, 3.0, ny * nx), np.full(ny * nx, 0.2)) for _ in range(10)]
    a = RunoffModel(prm, ny * nx, 3600.0)
    qa = [a.step(p, e) for p, e in forcing]
    b = RunoffModel(prm, ny * nx, 3600.0)
    for p, e in forcing[:5]:
        b.step(p, e)
    c = RunoffModel(prm, ny * nx, 3600.0, state=b.state)
    qc = [c.step(p, e) for p, e in forcing[5:]]
    for x, y in zip(qa[5:], qc):
        np.testing.assert_array_equal(x, y)
    for k in a.state:
        np.testing.assert_array_equal(a.state[k], c.state[k])
    assert prm.hash() == GRParameters(production_capacity_mm=x1, routing_capacity_mm=np.full((ny, nx), 40.0)).hash()
    assert prm.hash() != GRParameters().hash()


def test_bad_inputs():
    m = RunoffModel(GRParameters(), 3, 3600.0)
    with pytest.raises(InputDataError, match="precipitation.*NaN"):
        m.step(np.array([1.0, np.nan, 0.0]), np.zeros(3))
    with pytest.raises(InputDataError, match="negative"):
        m.step(np.array([1.0, -1.0, 0.0]), np.zeros(3))
    with pytest.raises(InputDataError, match="3 cells"):
        m.step(np.zeros(4), np.zeros(3))
    with pytest.raises(ConfigError):
        GRParameters(production_capacity_mm=-1.0)
    with pytest.raises(ConfigError):
        GRParameters(impervious_fraction=1.5)
    with pytest.raises(ConfigError, match="cells"):
        RunoffModel(GRParameters(production_capacity_mm=np.ones(4) * 100), 3, 3600.0)
    with pytest.raises(StateError, match="capacity"):
        m.set_state({"interception_store": np.zeros(3), "production_store": np.full(3, 1e4), "routing_store": np.zeros(3)})
    with pytest.raises(StateError, match="routing_store"):
        m.set_state({"interception_store": np.zeros(3), "production_store": np.zeros(3)})
