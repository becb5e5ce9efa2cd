"""The per-step solve: one LP when nothing is short, the exact sequence otherwise, robust pins."""
from __future__ import annotations

import numpy as np
import pytest
from alloc_helpers import DAY, dem, intake, link, make_net, q, run, series

from hydro.allocation import load_network
from hydro.allocation.core import _time_axis
from hydro.allocation.solver import AllocationModel


def test_one_lp_per_step_when_every_claim_is_met():
    # three priorities on a river that always has enough: each step is settled by the candidate LP alone
    res = run([intake("river", series([5, 6, 7, 8])), {"id": "sea", "type": "outlet"},
               dem("A", "a", "1 m3/s", 1), dem("B", "b", "1 m3/s", 2), dem("C", "c", "1 m3/s", 3)],
              [link("la", "river", "A"), link("lb", "river", "B"), link("lc", "river", "C"), link("o", "river", "sea")],
              steps=4)
    assert res.model_info["nsolve"] == 4
    assert res.model_info["one_lp_steps"] == 4
    np.testing.assert_allclose(res.delivered / DAY, 1.0, atol=1e-9)


def test_shortage_steps_use_the_exact_sequence_and_keep_priorities():
    # day 1 ample, day 2 short (1.5 for 1 + 1 + 1 at priorities 1, 2, 2), day 3 ample again:
    # lexicographic: A 1, then B and C share 0.5 equally (0.25 each) — not the candidate's weighted guess
    res = run([intake("river", series([4, 1.5, 4])), {"id": "sea", "type": "outlet"},
               dem("A", "a", "1 m3/s", 1), dem("B", "b", "1 m3/s", 2), dem("C", "c", "1 m3/s", 2)],
              [link("la", "river", "A"), link("lb", "river", "B"), link("lc", "river", "C"), link("o", "river", "sea")],
              steps=3)
    np.testing.assert_allclose(q(res, "A"), [1, 1, 1], atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), [1, 0.25, 1], atol=1e-9)
    np.testing.assert_allclose(q(res, "C"), [1, 0.25, 1], atol=1e-9)
    assert res.model_info["one_lp_steps"] == 2
    assert res.model_info["nsolve"] > 3


def test_jointly_infeasible_pins_are_widened_not_fatal():
    # pins 5e-7 m3 above what the river holds (more than HiGHS' 1e-7 tolerance): the solver widens
    # the pins by 1e-6 m3 and solves instead of failing
    net = load_network(make_net([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
                                [link("la", "river", "A"), link("lb", "river", "B")]))
    times, dt = _time_axis(net, None, None)
    m = AllocationModel(net, times, dt)
    ctx = m.prepare(0, m.initial_state())
    m.solve_step(ctx)
    half = DAY / 2 + 2.5e-7
    m.lp.set_cols(m.cC + np.arange(2), np.full(2, half), np.full(2, half + 1e-9))
    x, _ = m.lp.solve(primal=True)
    assert m.lp.nrelax == 1
    assert x[m.cC:m.cC + 2].sum() == pytest.approx(DAY, abs=1e-6)
