"""Per-cell mass balance of the runoff operator over random forcing at daily and
sub-daily steps, both parameter steps, UHs, exchange of either sign, impervious fraction and parameter maps:
P + exchange - AET - runoff - dStorage = 0 (exchange = gain), stores within bounds, AET <= PET."""
import numpy as np
from hypothesis import given, settings, strategies as st

from hydro.runoff import GRParameters, RunoffModel


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), dt=st.sampled_from([300.0, 900.0, 3600.0, 10800.0, 86400.0, 172800.0]),
       dtp=st.sampled_from([3600.0, 86400.0]), uh=st.sampled_from([None, 0.5, 0.8, 1.0, 3.7]))
def test_cell_balance_random_forcing(seed, dt, dtp, uh):
    rng = np.random.default_rng(seed)
    n = 40
    ci = rng.uniform(0, 5, n) * (rng.random(n) < 0.7)
    x1, x3 = 10 ** rng.uniform(-1, 3.5, n), 10 ** rng.uniform(-1, 3, n)
    prm = GRParameters(interception_capacity_mm=ci, production_capacity_mm=x1, routing_capacity_mm=x3,
                       exchange_mm=rng.uniform(-10, 10, n), impervious_fraction=rng.uniform(0, 1, n) * (rng.random(n) < .5),
                       unit_hydrograph_steps=uh, parameter_step_s=dtp)
    m = RunoffModel(prm, n, dt)
    s = m.state
    s.update(interception_store=rng.uniform(0, 1, n) * ci, production_store=rng.uniform(0, 1, n) * x1,
             routing_store=rng.uniform(0, 3, n) * x3)
    m.set_state(s)
    for _ in range(15):
        P = rng.gamma(0.3, 30.0, n) * (rng.random(n) < 0.5)
        E = rng.uniform(0, 8, n)
        s0 = m.storage_mm()
        q = m.step(P, E)
        bal = P + m.exchange_mm - m.actual_evaporation_mm - (m.storage_mm() - s0) - q
        scale = np.maximum.reduce([P, np.abs(m.exchange_mm), s0, q, np.ones(n)])
        assert np.max(np.abs(bal) / scale) <= 1e-14
        st_ = m.state
        assert np.all(q >= 0) and np.all(m.actual_evaporation_mm <= E * (1 + 1e-15))
        assert np.all((st_["production_store"] >= 0) & (st_["production_store"] <= x1))
        assert np.all((st_["interception_store"] >= 0) & (st_["interception_store"] <= ci))
        assert np.all(st_["routing_store"] >= 0)
