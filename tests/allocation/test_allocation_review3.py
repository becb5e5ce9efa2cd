"""Review 3 regression tests: tiny networks with hand-derived answers (volumes in m3 per daily step)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alloc_helpers import DAY, assert_balanced, dem, f, intake, link, make_net, q, run
from hydro.allocation import allocate, load_network

TOL = 1e-6


def _vol(res, demand):
    """Delivered volume of one demand [m3 per step]."""
    return res.delivered[:, res.demand_ids.index(demand)]


# ----------------------------------------------------------------- 1. forced water into a full reservoir spills
def test_same_step_return_flow_into_full_reservoir_spills():
    # intake 10 m3/d -> d (priority 1, 10 m3/d), 50 % returns in the same step into reservoir r (full, 100 m3,
    # no inflow), r feeds e (1 m3/d, priority 2). Water is plentiful: d gets 10, e gets 1, the 5 m3 returned
    # arrive in a full reservoir: r releases 1 to e, stays full and spills 4.
    nodes = [intake("i", "10 m3/d"), dem("d", "a", "10 m3/d"),
             {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3", "inflow": "0 m3/d"},
             dem("e", "b", "1 m3/d", priority=2)]
    links = [link("l", "i", "d"), link("ret", "d", "r", return_fraction=0.5), link("re", "r", "e")]
    res = run(nodes, links, steps=2)
    assert _vol(res, "d") == pytest.approx([10.0, 10.0], abs=TOL)
    assert _vol(res, "e") == pytest.approx([1.0, 1.0], abs=TOL)
    assert res.storage[:, 0] == pytest.approx([100.0, 100.0], abs=TOL)
    assert res.spill[:, 0] == pytest.approx([4.0, 4.0], abs=TOL)
    assert res.explanations.empty
    assert_balanced(res)


def test_same_step_return_flow_into_reservoir_with_room_is_stored_not_spilled():
    # same network, r at 90 m3: the 5 m3 returned (minus 1 released to e) are stored (94), nothing spills; the
    # next step r is at 94 + 4 = 98, then 100 with 2 m3 spilled.
    nodes = [intake("i", "10 m3/d"), dem("d", "a", "10 m3/d"),
             {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "90 m3", "inflow": "0 m3/d"},
             dem("e", "b", "1 m3/d", priority=2)]
    links = [link("l", "i", "d"), link("ret", "d", "r", return_fraction=0.5), link("re", "r", "e")]
    res = run(nodes, links, steps=4)
    assert _vol(res, "d") == pytest.approx([10.0] * 4, abs=TOL)
    assert res.storage[:, 0] == pytest.approx([94.0, 98.0, 100.0, 100.0], abs=TOL)
    assert res.spill[:, 0] == pytest.approx([0.0, 0.0, 2.0, 4.0], abs=TOL)
    assert_balanced(res)


def test_overflow_through_junction_into_full_reservoir_spills():
    # r1 (full, inflow 10 m3/d) overflows into junction j whose only link leads to r2 (full); r2 releases 1 m3/d
    # to d. A valid network: the overflow must pass r2 as spill (9 m3/d), not make the LP infeasible.
    nodes = [{"id": "r1", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3",
              "inflow": "10 m3/d", "overflow_to": "j"},
             {"id": "j", "type": "junction"},
             {"id": "r2", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3", "inflow": "0 m3/d"},
             dem("d", "a", "1 m3/d")]
    res = run(nodes, [link("jr", "j", "r2"), link("l", "r2", "d")], steps=2)
    assert _vol(res, "d") == pytest.approx([1.0, 1.0], abs=TOL)
    assert res.storage == pytest.approx(np.full((2, 2), 100.0), abs=TOL)
    assert res.spill[:, 0] == pytest.approx([10.0, 10.0], abs=TOL)
    assert res.spill[:, 1] == pytest.approx([9.0, 9.0], abs=TOL)
    assert_balanced(res)


# ----------------------------------------------------------------- 2. run-time inflows as pandas Series
def test_node_inflow_override_accepts_pandas_series_in_m3s():
    # allocate(net, inflows={"<node id>": pandas Series indexed by time}) in m3 s-1 (documented): intake i
    # replaced by 0.5 m3/s -> d (2 m3/s) gets 0.5 m3/s every step
    net = load_network(make_net([intake("i", "1 m3/s"), dem("d", "a", "2 m3/s")], [link("l", "i", "d")], steps=3))
    s = pd.Series([0.5, 0.25, 0.5], index=pd.date_range("2024-01-01", periods=3, freq="D"))
    res = allocate(net, inflows={"i": s})
    assert q(res, "d") == pytest.approx([0.5, 0.25, 0.5], abs=TOL)


def test_external_series_accepts_pandas_series_in_m3s():
    # an ``external`` inflow without units in the file, supplied as a pandas Series: m3 s-1 like arrays
    nodes = [intake("i", {"external": "q_i"}), dem("d", "a", "2 m3/s")]
    net = load_network(make_net(nodes, [link("l", "i", "d")], steps=2))
    s = pd.Series([0.5, 1.5], index=pd.date_range("2024-01-01", periods=2, freq="D"))
    res = allocate(net, inflows={"q_i": s})
    assert q(res, "d") == pytest.approx([0.5, 1.5], abs=TOL)


# ----------------------------------------------------------------- 3. delivery cap and a minimum delivery
def _capped_minimum(inflow):
    ag = [{"type": "minimum_delivery", "name": "m", "party": "a", "demand": "A", "minimum": "4 m3/d"}]
    return run([intake("i", inflow), dem("A", "a", "10 m3/d", 1, cap="5 m3/d")], [link("la", "i", "A")], ag)


def _claim(res, cid):
    row = res.claims[res.claims["claim"] == cid].iloc[0]
    return float(row["amount"]), float(row["delivered"])


def test_delivery_cap_cuts_the_default_tranche_before_the_minimum():
    # D = 10, minimum 4 (priority 1, as the demand), cap 5: tranches are cut most junior first, and the
    # minimum is the senior part of the request -> minimum claim 4, default tranche 5 - 4 = 1. With plenty
    # of water A gets 5 and the minimum is met (shortfall 0); it was cut to 0 with a shortfall of 4 reported.
    res = _capped_minimum("10 m3/d")
    assert _vol(res, "A") == pytest.approx([5.0], abs=TOL)
    assert _claim(res, "A:m") == pytest.approx((4.0, 4.0), abs=TOL)
    assert _claim(res, "A") == pytest.approx((1.0, 1.0), abs=TOL)
    assert res.agreement_state["m:minimum_shortfall"].iloc[0] == pytest.approx(0.0, abs=TOL)


def test_capped_minimum_shortfall_is_measured_against_the_capped_claim():
    # intake 3: level 1 holds A:m (4) and A (1), equal coverage 3/5 -> 2.4 and 0.6; minimum shortfall 4 - 2.4
    res = _capped_minimum("3 m3/d")
    assert _vol(res, "A") == pytest.approx([3.0], abs=TOL)
    assert _claim(res, "A:m") == pytest.approx((4.0, 2.4), abs=TOL)
    assert _claim(res, "A") == pytest.approx((1.0, 0.6), abs=TOL)
    assert res.agreement_state["m:minimum_shortfall"].iloc[0] == pytest.approx(1.6, abs=TOL)


def test_lagged_return_through_junction_into_full_reservoir_spills():
    # d (10 m3/d from intake i) returns 50 % one step later into junction j -> full reservoir r -> e (1 m3/d).
    # From step 1 on 5 m3 arrive at j each step and must pass r: release 1 to e, spill 4 (was infeasible).
    nodes = [intake("i", "10 m3/d"), dem("d", "a", "10 m3/d"), {"id": "j", "type": "junction"},
             {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3", "inflow": "0 m3/d"},
             dem("e", "b", "1 m3/d", priority=2)]
    links = [link("l", "i", "d"), link("ret", "d", "j", return_fraction=0.5, lag=1), link("jr", "j", "r"),
             link("re", "r", "e")]
    res = run(nodes, links, steps=3)
    assert _vol(res, "d") == pytest.approx([10.0] * 3, abs=TOL)
    assert _vol(res, "e") == pytest.approx([1.0] * 3, abs=TOL)
    assert res.storage[:, 0] == pytest.approx([99.0, 100.0, 100.0], abs=TOL)
    assert res.spill[:, 0] == pytest.approx([0.0, 3.0, 4.0], abs=TOL)
    assert_balanced(res)


# ----------------------------------------------------------------- 4. negative agreement quantities are errors
_NEG = {
    # entitlement -5 with surplus: the surplus claim was D + 5 = 15 -> A (requesting 10) received 15
    "entitlement": {"type": "entitlement", "party": "a", "demand": "A", "rate": "-5 m3/d", "priority": 1,
                    "surplus_priority": 2},
    "pro_rata": {"type": "pro_rata", "priority": 1, "surplus_priority": 2,
                 "parties": [{"party": "a", "demand": "A", "entitlement": "-5 m3/d"}]},
    "banking": {"type": "banking", "party": "a", "demand": "A", "rate": "-5 m3/d", "priority": 1,
                "surplus_priority": 2, "max_balance": "10 m3"},
    "licence": {"type": "licence", "party": "a", "demands": ["A"], "volume": "-5 m3"},
    "min_flow": {"type": "min_flow", "link": "lo", "flow": "-5 m3/d"},
    "border_obligation": {"type": "border_obligation", "party": "a", "link": "lo", "flow": "-5 m3/d"},
}


@pytest.mark.parametrize("kind", sorted(_NEG))
def test_negative_agreement_quantities_are_config_errors(kind):
    from hydro.errors import ConfigError

    nodes = [intake("i", "100 m3/d"), dem("A", "a", "10 m3/d"), {"id": "o", "type": "outlet"}]
    with pytest.raises(ConfigError, match="negative"):
        run(nodes, [link("la", "i", "A"), link("lo", "i", "o")], [_NEG[kind]])


def test_negative_demand_cap_and_area_are_config_errors():
    from hydro.errors import ConfigError

    with pytest.raises(ConfigError, match="cap must not be negative"):
        run([intake("i", "100 m3/d"), dem("A", "a", "10 m3/d", cap="-1 m3/d")], [link("la", "i", "A")])
    # a negative area made evaporation negative: water created in the reservoir
    res_node = {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "10 m3",
                "evaporation": "5 mm/d", "area": "-100 m2"}
    with pytest.raises(ConfigError, match="must not be negative"):
        run([res_node, dem("A", "a", "1 m3/d")], [link("la", "r", "A")])


# ----------------------------------------------------------------- 5. delivery by source adds up to the delivery
def test_delivery_by_source_counts_overflow_into_a_junction():
    # r1 (full, inflow 10 m3/d) overflows into junction j -> d (8 m3/d) and an outlet: all of d's water is r1's
    # spill (it was attributed to no source: the split summed to 0 instead of 8)
    from hydro.allocation.sources import delivery_by_source

    nodes = [{"id": "r1", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3",
              "inflow": "10 m3/d", "overflow_to": "j"},
             {"id": "j", "type": "junction"}, dem("d", "a", "8 m3/d"), {"id": "o", "type": "outlet"}]
    res = run(nodes, [link("jd", "j", "d"), link("jo", "j", "o")])
    assert _vol(res, "d") == pytest.approx([8.0], abs=TOL)
    split = delivery_by_source(res).sel(demand="d") * DAY
    assert float(split.sel(source="r1")[0]) == pytest.approx(8.0, abs=TOL)


def test_delivery_by_source_lagged_return_keeps_the_composition_it_left_with():
    # d draws from i1 on day 0 and from i2 on day 1; 50 % returns one day later into junction j feeding e.
    # e's 5 m3 on day 1 are day-0 return water, i.e. from i1 (was attributed to i2, the water leaving on day 1)
    from hydro.allocation.sources import delivery_by_source

    nodes = [intake("i1", {"values": [10, 0], "units": "m3/d"}), intake("i2", {"values": [0, 10], "units": "m3/d"}),
             dem("d", "a", "10 m3/d"), {"id": "j", "type": "junction"}, dem("e", "b", "5 m3/d", priority=2),
             {"id": "o", "type": "outlet"}]
    links = [link("l1", "i1", "d"), link("l2", "i2", "d"), link("ret", "d", "j", return_fraction=0.5, lag=1),
             link("je", "j", "e"), link("jo", "j", "o")]
    res = run(nodes, links, steps=2)
    assert _vol(res, "e") == pytest.approx([0.0, 5.0], abs=TOL)
    split = delivery_by_source(res).sel(demand="e") * DAY
    assert split.sel(source="i1").values == pytest.approx([0.0, 5.0], abs=TOL)
    assert split.sel(source="i2").values == pytest.approx([0.0, 0.0], abs=TOL)


# ----------------------------------------------------------------- 6. rules on the exogenous inflow of a node
def _river_junction():
    nodes = [intake("i", "10 m3/d"), {"id": "j", "type": "junction"}, dem("A", "a", "8 m3/d"),
             {"id": "o", "type": "outlet"}]
    return nodes, [link("ij", "i", "j"), link("ja", "j", "A"), link("jo", "j", "o")]


def test_hands_off_flow_at_a_node_without_inflow_is_a_config_error():
    # 10 m3/d flow through junction j, threshold 5 m3/d: j has no exogenous inflow (0 < 5), so the abstraction
    # was closed every step (A got 0)
    from hydro.errors import ConfigError

    nodes, links = _river_junction()
    with pytest.raises(ConfigError, match="node 'j' is a junction"):
        run(nodes, links, [{"type": "hands_off_flow", "node": "j", "threshold": "5 m3/d", "links": ["ja"]}])
    # on the intake it works: 10 >= 5 -> open, A gets 8
    nodes, links = _river_junction()
    res = run(nodes, links, [{"type": "hands_off_flow", "node": "i", "threshold": "5 m3/d", "links": ["ja"]}])
    assert _vol(res, "A") == pytest.approx([8.0], abs=TOL)


def test_min_flow_natural_node_without_inflow_is_a_config_error():
    # 50 % of the "natural flow" at junction j was 50 % of 0: the environmental flow silently vanished
    from hydro.errors import ConfigError

    nodes, links = _river_junction()
    with pytest.raises(ConfigError, match="node 'j' is a junction"):
        run(nodes, links, [{"type": "min_flow", "link": "jo", "fraction": 0.5, "natural_node": "j"}])
    nodes, links = _river_junction()
    res = run(nodes, links, [{"type": "min_flow", "link": "jo", "fraction": 0.5, "natural_node": "i"}])
    assert f(res, "jo") == pytest.approx([5.0 / DAY], abs=1e-12)
    assert _vol(res, "A") == pytest.approx([5.0], abs=TOL)


@pytest.mark.parametrize("target", ["r", "A"])
def test_overflow_into_itself_or_a_demand_is_a_config_error(target):
    # a full reservoir overflowing into itself or into a demand: the spill had nowhere to go and HiGHS reported
    # the valid-looking file as infeasible at step 0; now a configuration error naming the key
    from hydro.errors import ConfigError

    r = {"id": "r", "type": "reservoir", "capacity": "100 m3", "initial_storage": "100 m3", "inflow": "10 m3/d",
         "overflow_to": target}
    with pytest.raises(ConfigError, match="overflow_to"):
        run([r, dem("A", "a", "1 m3/d")], [link("la", "r", "A")])
