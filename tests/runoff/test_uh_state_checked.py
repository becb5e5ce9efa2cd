"""The unit-hydrograph buffers of a lumped RunoffModel are state: checked like the stores (review).

Before: set_state took NaN (NaN runoff and stores from the next step), negative water (uh1 = -100 mm
came back as a +73 mm "exchange" gain on the next dry step) and a misshaped buffer (a bare ValueError).
"""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import StateError
from hydro.runoff import GRParameters, RunoffModel

PRM = GRParameters(interception_capacity_mm=0.0, production_capacity_mm=300.0, routing_capacity_mm=90.0,
                   unit_hydrograph_steps=2.5)


def _model_and_state():
    m = RunoffModel(PRM, 1, 86400.0)
    m.step(np.array([30.0]), np.array([1.0]))
    return m, m.state


@pytest.mark.parametrize("key", ["uh1", "uh2"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -100.0])
def test_invalid_unit_hydrograph_buffer_is_refused_and_changes_nothing(key, bad):
    m, st = _model_and_state()
    before = m.state
    st[key] = st[key].copy()
    st[key][0, 0] = bad
    with pytest.raises(StateError, match=key):
        m.set_state(st)
    for k, v in before.items():
        np.testing.assert_array_equal(m.state[k], v)


def test_misshaped_unit_hydrograph_buffer_is_a_state_error():
    m, st = _model_and_state()
    st["uh2"] = np.zeros(2)
    with pytest.raises(StateError, match="uh2"):
        m.set_state(st)


def test_valid_buffers_still_restart_bit_for_bit():
    m, st = _model_and_state()
    other = RunoffModel(PRM, 1, 86400.0, state={k: v.ravel() if k.startswith("uh") else v for k, v in st.items()})
    for p in (0.0, 12.0, 3.0):
        assert m.step(np.array([p]), np.array([2.0]))[0] == other.step(np.array([p]), np.array([2.0]))[0]
