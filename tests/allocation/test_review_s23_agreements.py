"""Hand-derived checks of the share / accounts / tiers / period / obligation agreement types (review s23).

No defect was found: these tests pass on the original code and pin the hand-derived answers."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.allocation import allocate, load_network

DAY = 86400.0
R = "res"


def _run(nodes, links, ags, steps=1, start="2024-01-01", timestep="1D"):
    net = {"network": {"name": "t", "start": start, "steps": steps, "timestep": timestep},
           "regions": [{"id": r} for r in ("a", "b")], "nodes": nodes, "links": links, "agreements": ags}
    return allocate(load_network(net))


def _dem(i, r, d, p=1):
    return {"id": i, "type": "demand", "region": r, "demand": d, "priority": p}


def _res(initial, **kw):
    r = {"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": initial}
    r.update(kw)
    return r


def _q(res, d):
    return res.delivered[:, res.demand_ids.index(d)]


def test_accounts_internal_spill_pro_rata_and_pipeline_inflow():
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.5, "capacity_share": 0.5, "initial_share": 0.9},
        {"party": "b", "links": ["lb"], "inflow_share": 0.5, "capacity_share": 0.5, "initial_share": 0.1}]}
    res = _run([_res("0.5 Mm3", inflow=f"{200000 / DAY} m3/s"), _dem("A", "a", "0 m3/s"), _dem("B", "b", "0 m3/s")],
               [{"id": "la", "from": R, "to": "A"}, {"id": "lb", "from": R, "to": "B"}], [ag], steps=2)
    # day 1: A 450000 + 100000 = 550000 > cap 500000 -> 50000 spills into B: 50000 + 100000 + 50000 = 200000
    # day 2: A 500000 + 100000 -> 100000 to B: 200000 + 100000 + 100000 = 400000; storage 900000
    np.testing.assert_allclose(res.agreement_state[["acc:a", "acc:b"]].to_numpy(),
                               [[500000, 200000], [500000, 400000]], rtol=1e-9)
    np.testing.assert_allclose(res.storage[:, 0], [700000, 900000], rtol=1e-9)


def test_accounts_dead_storage_and_same_step_pipeline():
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.5}, {"party": "b", "links": ["lb"], "inflow_share": 0.5}]}
    res = _run([_res("0.5 Mm3", dead_storage="0.2 Mm3"), {"id": "riv", "type": "intake", "inflow": f"{100000 / DAY} m3/s"},
                _dem("A", "a", f"{250000 / DAY} m3/s"), _dem("B", "b", "0 m3/s"), {"id": "sea", "type": "outlet"}],
               [{"id": "la", "from": R, "to": "A"}, {"id": "lb", "from": R, "to": "B"},
                {"id": "pipe", "from": "riv", "to": R}, {"id": "rs", "from": "riv", "to": "sea"}], [ag], steps=2)
    # usable 300000 -> 150000 each; pipe 100000 (storage weight keeps it) -> +50000 each
    # day 1: A draws 150000 + 50000 = 200000; day 2: A has 0 + 50000
    np.testing.assert_allclose(_q(res, "A"), [200000, 50000], rtol=1e-9)
    np.testing.assert_allclose(res.agreement_state["acc:b"].to_numpy(), [200000, 250000], rtol=1e-9)


def test_period_entitlement_review_inside_a_three_day_step_even_spread():
    ag = {"type": "period_entitlement", "name": "pe", "party": "a", "demand": "A", "volume": "300000 m3",
          "period": "month", "priority": 1, "carry_over_fraction": 1.0, "carry_over_max": "30000 m3", "spread": "even"}
    res = _run([{"id": "river", "type": "intake", "inflow": "10 m3/s"}, _dem("A", "a", f"{100000 / 259200} m3/s")],
               [{"id": "la", "from": "river", "to": "A"}], [ag], steps=4, start="2024-01-28", timestep="3D")
    # Jan: 01-28 (2 steps left: 150000 >= 100000), 01-31 straddles Feb 1 -> still January (200000 left)
    # review at 02-03: carry = min(30000, 300000 - 200000); 9 steps start in [02-03, 03-01): 330000/9
    np.testing.assert_allclose(_q(res, "A"), [100000, 100000, 330000 / 9, (330000 - 330000 / 9) / 8], rtol=1e-9)


def test_share_of_storage_with_volume_reserve():
    ags = [{"type": "share", "name": "s", "source": R, "available": "storage", "shares": [
        {"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.5}]},
        {"type": "reserve", "source": R, "volume": "0.1 Mm3"}]
    res = _run([_res("0.5 Mm3", dead_storage="0.2 Mm3"), _dem("A", "a", "10 m3/s"), _dem("B", "b", "10 m3/s")],
               [{"id": "la", "from": R, "to": "A"}, {"id": "lb", "from": R, "to": "B"}], ags, steps=2)
    # day 1: A = 500000 - 200000 - 100000 = 200000 -> 100000 each; day 2: 300000 - 200000 - 100000 = 0
    np.testing.assert_allclose(_q(res, "A"), [100000, 0], atol=1e-6)
    np.testing.assert_allclose(_q(res, "B"), [100000, 0], atol=1e-6)


def test_cumulative_border_obligation_larger_than_the_flow():
    ag = {"type": "border_obligation", "name": "bo", "party": "a", "link": "lb", "flow": "2 m3/s", "cumulative": True}
    res = _run([{"id": "river", "type": "intake", "inflow": {"values": [1, 3, 5], "units": "m3/s"}},
                _dem("A", "a", "10 m3/s", 2), {"id": "border", "type": "outlet"}],
               [{"id": "la", "from": "river", "to": "A"}, {"id": "lb", "from": "river", "to": "border"}], [ag], steps=3)
    # claims 2, 4 - 1 = 3, 6 - 4 = 2 m3/s; the river gives 1, 3, 5 -> border 1, 3, 2; A gets 0, 0, 3
    lb = res.flow[:, res.link_ids.index("lb")] / DAY
    np.testing.assert_allclose(lb, [1, 3, 2], atol=1e-9)
    np.testing.assert_allclose(_q(res, "A") / DAY, [0, 0, 3], atol=1e-9)
    np.testing.assert_allclose(res.agreement_state["bo:balance"].to_numpy() / DAY, [-1, 0, 0], atol=1e-9)


def test_drought_tier_exactly_on_the_curve_is_level_zero():
    ag = {"type": "drought_tiers", "name": "dt", "reservoir": R, "curves": [0.5, 0.3],
          "targets": [{"demand": "A", "multipliers": [1.0, 0.5, 0.25]}]}
    res = _run([_res("0.5 Mm3"), _dem("A", "a", "1 m3/s")], [{"id": "la", "from": R, "to": "A"}], [ag])
    # S/S_max = 0.5, not < 0.5 -> level 0, full 1 m3/s
    assert res.agreement_state["dt:level"].iloc[0] == 0
    assert _q(res, "A")[0] == pytest.approx(DAY)


# ----------------------------------------------------------------- defect 1: an offtake link listed twice in a share
from hydro.errors import ConfigError  # noqa: E402


def _river_two_parties(ag):
    return _run([{"id": "river", "type": "intake", "inflow": "1 m3/s"}, _dem("A", "a", "1 m3/s", 2),
                 _dem("B", "b", "1 m3/s", 2)],
                [{"id": "la", "from": "river", "to": "A"}, {"id": "lb", "from": "river", "to": "B"}], [ag])


@pytest.mark.parametrize("mode", ["lapse", "redistribute"])
def test_share_with_a_link_listed_twice_is_refused(mode):
    # party a holds 0.3 + 0.3 = 0.6 of 1 m3/s through its one offtake 'la', party b 0.4 through 'lb'.
    # By the rule x_a <= 0.6 * 1 = 0.6 m3/s; the original code caps 'la' at 0.3 (lapse: each entry caps
    # the link at its own fraction) or gives a 0.3/0.7 * 1 = 0.43 (redistribute: both claims sit on the
    # same flow), silently losing part of a's share. Each offtake must be listed once.
    ag = {"type": "share", "name": "s", "source": "river", "unused": mode,
          "shares": [{"party": "a", "link": "la", "fraction": 0.3}, {"party": "a", "link": "la", "fraction": 0.3},
                     {"party": "b", "link": "lb", "fraction": 0.4}]}
    if mode == "redistribute":
        ag["priority"] = 1
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.shares\[1\]\.link.*'la' is already in shares\[0\]"):
        _river_two_parties(ag)


def test_shortage_share_with_a_link_listed_twice_is_refused():
    # a: 0.3 + 0.3 m3/s through 'la', b: 0.4 through 'lb'; A_t = 1 = sum E -> no shortage, a may draw 0.6.
    # The original code caps 'la' at each entry's allotment (0.3): 0.3 m3/s of a's entitlement lapses.
    ag = {"type": "shortage_share", "name": "ss", "source": "river", "parties": [
        {"party": "a", "link": "la", "entitlement": "0.3 m3/s", "shortage_fraction": 0.5},
        {"party": "a", "link": "la", "entitlement": "0.3 m3/s", "shortage_fraction": 0.0},
        {"party": "b", "link": "lb", "entitlement": "0.4 m3/s", "shortage_fraction": 0.5}]}
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.parties\[1\]\.link.*'la' is already in parties\[0\]"):
        _river_two_parties(ag)


def test_share_with_one_party_on_two_links_still_runs():
    # a party with two offtakes (one entry per link) is valid: 0.3 via la, 0.3 via la2, 0.4 via lb (lapse)
    ag = {"type": "share", "name": "s", "source": "river",
          "shares": [{"party": "a", "link": "la", "fraction": 0.3}, {"party": "a", "link": "la2", "fraction": 0.3},
                     {"party": "b", "link": "lb", "fraction": 0.4}]}
    res = _run([{"id": "river", "type": "intake", "inflow": "1 m3/s"}, _dem("A", "a", "1 m3/s", 2),
                _dem("B", "b", "1 m3/s", 2)],
               [{"id": "la", "from": "river", "to": "A"}, {"id": "la2", "from": "river", "to": "A"},
                {"id": "lb", "from": "river", "to": "B"}], [ag])
    # A: 0.3 + 0.3 = 0.6 m3/s, B: 0.4 m3/s
    assert _q(res, "A")[0] / DAY == pytest.approx(0.6)
    assert _q(res, "B")[0] / DAY == pytest.approx(0.4)


# ----------------------------------------------------------------- defect 2: account evaporation/initial shares not summing to 1
def _accounts_run(accounts):
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": accounts}
    return _run([_res("0.5 Mm3", evaporation="10 mm/d", area="100 ha"), _dem("A", "a", "0 m3/s"), _dem("B", "b", "0 m3/s")],
                [{"id": "la", "from": R, "to": "A"}, {"id": "lb", "from": R, "to": "B"}], [ag])


@pytest.mark.parametrize("key, given", [("evaporation_share", 1.0), ("initial_share", 0.9)])
def test_account_shares_not_summing_to_one_are_refused(key, given):
    # a gives its share, b leaves it to the default (its inflow share 0.5): β = (1.0, 0.5) sums to 1.5.
    # The original code runs: evaporation 10 mm/d × 100 ha = 10000 m3 is charged 10000 / 5000 by β, then the
    # reconciliation to the real storage (490000) hands 5000 back by α -> a loses 7500, b 2500 (242500 / 247500):
    # neither β (a bears all: 240000 / 250000) nor α. initial_share (0.9, 0.5) is silently normalised to
    # 0.643 / 0.357 of the storage instead of the stated 90 %.
    accounts = [{"party": "a", "links": ["la"], "inflow_share": 0.5, key: given},
                {"party": "b", "links": ["lb"], "inflow_share": 0.5}]
    with pytest.raises(ConfigError, match=rf"{key}s must sum to 1.*got {1.5 if given == 1.0 else 1.4:g}"):
        _accounts_run(accounts)


def test_account_evaporation_shares_summing_to_one():
    accounts = [{"party": "a", "links": ["la"], "inflow_share": 0.5, "evaporation_share": 1.0},
                {"party": "b", "links": ["lb"], "inflow_share": 0.5, "evaporation_share": 0.0}]
    res = _accounts_run(accounts)
    # 250000 each at the start; a bears the whole 10 mm/d × 1e6 m2 = 10000 m3
    np.testing.assert_allclose(res.agreement_state[["acc:a", "acc:b"]].to_numpy()[0], [240000, 250000], rtol=1e-9)
    assert res.storage[0, 0] == pytest.approx(490000)
