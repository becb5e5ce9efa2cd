"""Tests written for surviving mutants (mutation-testing review, session 20).

Every expected value is worked out by hand in the comments (water balance of a tiny network).
"""
from __future__ import annotations

import numpy as np
import pytest

from alloc_helpers import assert_balanced, dem, link, run

TOL = 1e-6


def _res(**kw):
    d = {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "0 m3", "inflow": "10 m3/d",
         "evaporation": "4 mm/d", "area": "1000 m2"}
    d.update(kw)
    return d


def test_evaporation_from_an_empty_reservoir_is_limited_by_storage_plus_the_steps_inflow():
    # empty reservoir, inflow 10 m3/d, net evaporation 4 mm/d on 1000 m2 = 4 m3/d, no demand:
    # the step's inflow is water present on the surface, so step 1 loses 4 m3: S = 0 + 10 - 4 = 6, then 12.
    # (a cap at the start-of-step storage alone would evaporate nothing in step 1: S = 10, 16)
    res = run([_res(), dem("d", "a", "0 m3/d")], [link("l", "r", "d")], steps=2)
    assert res.evaporation[:, 0] == pytest.approx([4.0, 4.0], abs=TOL)
    assert res.storage[:, 0] == pytest.approx([6.0, 12.0], abs=TOL)
    assert_balanced(res)


def test_evaporation_never_exceeds_storage_plus_inflow():
    # empty reservoir, inflow 3 m3/d, evaporation 4 m3/d: only the 3 m3 present evaporate, S stays 0
    res = run([_res(inflow="3 m3/d"), dem("d", "a", "0 m3/d")], [link("l", "r", "d")], steps=2)
    assert res.evaporation[:, 0] == pytest.approx([3.0, 3.0], abs=TOL)
    assert res.storage[:, 0] == pytest.approx([0.0, 0.0], abs=TOL)
    assert_balanced(res)


def test_drought_tier_needs_storage_strictly_below_the_curve():
    # docs/allocation.md: L_t = Σ_k 1[S_{t−1}/S_max < κ_k]. Storage exactly on the curve (50 of 100 m3, κ = 0.5)
    # is not below it: tier 0, the demand (1 m3/d, met by the 1 m3/d inflow) is served in full and S stays 50.
    ag = {"type": "drought_tiers", "name": "dt", "reservoir": "r", "curves": [0.5],
          "targets": [{"demand": "d", "multipliers": [1.0, 0.5]}]}
    res = run([_res(initial_storage="50 m3", inflow="1 m3/d", evaporation="0 mm/d"), dem("d", "a", "1 m3/d")],
              [link("l", "r", "d")], [ag], steps=3)
    np.testing.assert_array_equal(res.agreement_state["dt:level"].to_numpy(), [0, 0, 0])
    assert res.delivered[:, 0] == pytest.approx([1.0, 1.0, 1.0], abs=TOL)
    assert res.storage[:, 0] == pytest.approx([50.0, 50.0, 50.0], abs=TOL)
    # one m3 less (49 %) is below the curve: tier 1, half the demand (0.5 m3/d) for the first step
    res = run([_res(initial_storage="49 m3", inflow="1 m3/d", evaporation="0 mm/d"), dem("d", "a", "1 m3/d")],
              [link("l", "r", "d")], [ag], steps=1)
    assert res.agreement_state["dt:level"].to_numpy()[0] == 1
    assert res.delivered[0, 0] == pytest.approx(0.5, abs=TOL)


def test_storage_account_internal_spill_none_goes_to_the_pool_by_inflow_share_not_evaporation_share():
    # reservoir 100 m3 holding 40 m3 (accounts a 28, b 12 by initial_share), inflow 20 m3/d shared 0.5/0.5, no
    # evaporation, no use. After the inflow a holds 38 > its capacity 0.3 × 100 = 30: 8 m3 spill into the common
    # pool, shared by inflow share α (docs: internal_spill = "none"): a = 30 + 4 = 34, b = 22 + 4 = 26 (Σ = 60 = S).
    # evaporation_share β = (1, 0) must play no part (split by β: a = 38, b = 22).
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": "r", "internal_spill": "none", "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.5, "evaporation_share": 1.0, "capacity_share": 0.3,
         "initial_share": 0.7},
        {"party": "b", "links": ["lb"], "inflow_share": 0.5, "evaporation_share": 0.0, "initial_share": 0.3}]}
    res = run([_res(initial_storage="40 m3", inflow="20 m3/d", evaporation="0 mm/d"),
               dem("A", "a", "0 m3/d"), dem("B", "b", "0 m3/d")],
              [link("la", "r", "A"), link("lb", "r", "B")], [ag], steps=1)
    assert res.storage[0, 0] == pytest.approx(60.0, abs=TOL)
    assert res.agreement_state["acc:a"].iloc[0] == pytest.approx(34.0, abs=TOL)
    assert res.agreement_state["acc:b"].iloc[0] == pytest.approx(26.0, abs=TOL)
