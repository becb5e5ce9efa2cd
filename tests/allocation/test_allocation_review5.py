"""Review 5 of hydro.allocation: validity of storage accounts / supply preferences / level sharing, shadow prices
that unrelated claims must not inflate, and link outages that cover part of a step (flows m3/s, daily steps)."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.allocation import allocate, load_network

DAY = 86400.0


def _net(nodes, links, agreements=(), steps=1, timestep="1D"):
    return {"network": {"name": "r5", "start": "2024-01-01", "steps": steps, "timestep": timestep},
            "regions": [{"id": r} for r in ("a", "b", "c")], "nodes": list(nodes), "links": list(links),
            "agreements": list(agreements)}


def _run(*a, **kw):
    return allocate(load_network(_net(*a, **kw)))


def _q(res, d):
    return res.delivered[:, res.demand_ids.index(d)] / res.dt


def _f(res, lk):
    return res.flow[:, res.link_ids.index(lk)] / res.dt


def _dem(i, region, demand, priority=1):
    return {"id": i, "type": "demand", "region": region, "demand": demand, "priority": priority}


def _balanced(res):
    assert np.abs(res.mass_residual).max() <= 1e-6 * max(1.0, float(np.abs(res.storage).max(initial=0.0)))


# ------------------------------------------------------------------ storage accounts honour start / end
_RES = {"id": "r", "type": "reservoir", "capacity": f"{10 * DAY} m3", "dead_storage": "0 m3",
        "initial_storage": f"{2 * DAY} m3", "inflow": "0 m3/s"}


def _accounts(**dates):
    return {"type": "storage_accounts", "name": "sa", "reservoir": "r", **dates,
            "accounts": [{"party": "a", "links": ["la"], "inflow_share": 0.5},
                         {"party": "b", "links": ["lb"], "inflow_share": 0.5}]}


def test_storage_accounts_stop_limiting_after_their_end():
    # 2 day·m3/s stored, accounts 1 + 1. Day 1 (valid): A draws its whole account, 1.0 (demand 1.5).
    # Day 2 (after end): no account any more -> A takes what the reservoir holds, min(1.5, 1.0) = 1.0.
    res = _run([dict(_RES), _dem("A", "a", "1.5 m3/s"), _dem("B", "b", "0 m3/s")],
               [{"id": "la", "from": "r", "to": "A"}, {"id": "lb", "from": "r", "to": "B"}],
               [_accounts(end="2024-01-02")], steps=2)
    np.testing.assert_allclose(_q(res, "A"), [1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(res.storage[:, 0] / DAY, [1.0, 0.0], atol=1e-9)
    _balanced(res)


def test_storage_accounts_do_not_limit_before_their_start():
    # Day 1 (before start): no accounts -> A gets its full 1.5 from the 2.0 stored.
    res = _run([dict(_RES), _dem("A", "a", "1.5 m3/s"), _dem("B", "b", "0 m3/s")],
               [{"id": "la", "from": "r", "to": "A"}, {"id": "lb", "from": "r", "to": "B"}],
               [_accounts(start="2024-01-02")], steps=2)
    assert _q(res, "A")[0] == pytest.approx(1.5, abs=1e-9)
    # from the start the accounts open with their initial shares (0.5 each) of the 0.5 left: A gets 0.25
    assert _q(res, "A")[1] == pytest.approx(0.25, abs=1e-9)
    st = res.agreement_state
    assert (st["sa:a"] + st["sa:b"]).iloc[-1] == pytest.approx(res.storage[-1, 0], abs=1e-6)
    _balanced(res)


# ------------------------------------------------------------------ supply preference / level sharing honour start / end
@pytest.mark.parametrize("dates,ls", [({"start": "2024-01-02"}, [0.0, 0.8]), ({"end": "2024-01-02"}, [0.8, 0.0])])
def test_supply_preference_applies_only_while_valid(dates, ls):
    # without a preference the tie-break keeps water in storage (the river serves A); while the preference
    # [ls, lr] is valid A draws the reservoir first
    pref = {"type": "supply_preference", "party": "a", "order": ["ls", "lr"], **dates}
    res = _run([{"id": "river", "type": "intake", "inflow": "1 m3/s"},
                {**_RES, "initial_storage": f"{5 * DAY} m3"}, _dem("A", "a", "0.8 m3/s")],
               [{"id": "lr", "from": "river", "to": "A"}, {"id": "ls", "from": "r", "to": "A"}], [pref], steps=2)
    np.testing.assert_allclose(_q(res, "A"), 0.8, atol=1e-9)
    np.testing.assert_allclose(_f(res, "ls"), ls, atol=1e-9)
    np.testing.assert_allclose(_f(res, "lr"), 0.8 - np.array(ls), atol=1e-9)
    _balanced(res)


def test_level_sharing_applies_only_while_valid():
    # before the max_total rule starts the level shares equally: 1 m3/s between two demands of 1 -> 0.5 each
    res = _run([{"id": "river", "type": "intake", "inflow": "1 m3/s"}, _dem("A", "a", "1 m3/s"), _dem("B", "b", "1 m3/s")],
               [{"id": "la", "from": "river", "to": "A"}, {"id": "lb", "from": "river", "to": "B"}],
               [{"type": "level_sharing", "priority": 1, "sharing": "max_total", "start": "2024-01-02"}], steps=2)
    assert _q(res, "A")[0] == pytest.approx(0.5, abs=1e-9)
    assert _q(res, "B")[0] == pytest.approx(0.5, abs=1e-9)
    assert _q(res, "A")[1] + _q(res, "B")[1] == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------ shadow prices
@pytest.mark.parametrize("other", [0.0, 1.0, 9.0])
def test_pipe_shadow_price_is_not_inflated_by_an_unrelated_demand(other):
    # A (1 m3/s) is held to 0.5 by its pipe: one more m3 of capacity gives A one more m3 -> shadow price 1,
    # whatever a fully supplied demand C of the same priority on another river asks for
    nodes = [{"id": "river", "type": "intake", "inflow": "5 m3/s"}, _dem("A", "a", "1 m3/s")]
    links = [{"id": "la", "from": "river", "to": "A", "capacity": "0.5 m3/s"}]
    if other:
        nodes += [{"id": "other", "type": "intake", "inflow": "100 m3/s"}, _dem("C", "c", f"{other} m3/s")]
        links += [{"id": "lc", "from": "other", "to": "C"}]
    res = _run(nodes, links)
    ex = res.explanations
    assert list(ex.instance) == ["A"] and list(ex.reason) == ["pipe_full"]
    assert ex.shadow_price.iloc[0] == pytest.approx(1.0, rel=1e-9)


def test_reciprocal_and_share_shadow_prices_count_only_the_short_claims():
    # reciprocal: J ≤ 0.02 (S + J) -> one m3 of relaxation gives J 1/0.98 m3 (S, same priority, is met anyway)
    res = _run([{"id": "river", "type": "intake", "inflow": "10 m3/s"}, {"id": "plant", "type": "junction"},
                _dem("S", "a", "2 m3/s"), _dem("J", "b", "1 m3/s"), {"id": "sea", "type": "outlet"}],
               [{"id": "take", "from": "river", "to": "plant", "capacity": "3 m3/s"},
                {"id": "ls", "from": "plant", "to": "S"}, {"id": "ret", "from": "plant", "to": "J"},
                {"id": "out", "from": "river", "to": "sea"}],
               [{"type": "reciprocal", "name": "rc", "party": "b", "take_link": "take", "return_link": "ret",
                 "fraction": 0.02}])
    assert _q(res, "J")[0] == pytest.approx(0.02 * 2 / 0.98, rel=1e-9)
    ex = res.explanations
    assert list(ex.reason) == ["agreement_cap"]
    assert ex.shadow_price.iloc[0] == pytest.approx(1 / 0.98, rel=1e-9)
    # lapsing share: A's link capped at 0.6 of the river; B (0.1, met) shares the level -> price 1, not 1.1
    res = _run([{"id": "river", "type": "intake", "inflow": "1 m3/s"}, _dem("A", "a", "1 m3/s"),
                _dem("B", "b", "0.1 m3/s")],
               [{"id": "la", "from": "river", "to": "A"}, {"id": "lb", "from": "river", "to": "B"}],
               [{"type": "share", "name": "sh", "source": "river",
                 "shares": [{"party": "a", "link": "la", "fraction": 0.6}, {"party": "b", "link": "lb", "fraction": 0.4}]}])
    ex = res.explanations
    assert list(ex.reason) == ["agreement_cap"]
    assert ex.shadow_price.iloc[0] == pytest.approx(1.0, rel=1e-9)


# ------------------------------------------------------------------ outages covering part of a step
@pytest.mark.parametrize("outage,expect", [
    ({"start": "2024-01-02T06:00:00", "end": "2024-01-02T18:00:00"}, [1.0, 0.5, 1.0]),   # 12 h inside day 2
    ({"start": "2024-01-02T12:00:00", "end": "2024-01-03T12:00:00"}, [1.0, 0.5, 0.5]),   # straddles a step start
    ({"start": "2024-01-02", "end": "2024-01-03"}, [1.0, 0.0, 1.0]),                     # whole step (unchanged)
])
def test_outage_counts_for_the_part_of_the_step_it_covers(outage, expect):
    # pipe 1 m3/s, demand 2: the step's capacity is the time-weighted mean, as an hourly run gives per day
    nodes = [{"id": "river", "type": "intake", "inflow": "5 m3/s"}, _dem("A", "a", "2 m3/s")]
    links = [{"id": "la", "from": "river", "to": "A", "capacity": "1 m3/s", "outages": [outage]}]
    res = _run(nodes, links, steps=3)
    np.testing.assert_allclose(_q(res, "A"), expect, atol=1e-9)
    hourly = _run(nodes, links, steps=72, timestep="1h")
    np.testing.assert_allclose(_q(hourly, "A").reshape(3, 24).mean(axis=1), expect, atol=1e-9)
    _balanced(res)
