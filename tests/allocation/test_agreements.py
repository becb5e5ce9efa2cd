"""One tiny network per agreement type with a hand-derived answer (m3/s, daily steps)."""
from __future__ import annotations

import numpy as np
import pytest

from alloc_helpers import DAY, assert_balanced, dem, f, intake, link, q, run, series

R = "res"


def test_priority_lexicographic_beats_path_length():
    # A (priority 1) sits behind two lossy links; B (priority 2) is next to the source.
    # A gets its full 0.7 (gross 0.7 / 0.9 / 0.9), B the rest — never traded by path costs.
    res = run([intake("river", "1 m3/s"), {"id": "j", "type": "junction"}, dem("A", "a", "0.7 m3/s", 1),
               dem("B", "b", "0.6 m3/s", 2)],
              [link("l1", "river", "j", loss_fraction=0.1), link("l2", "j", "A", loss_fraction=0.1),
               link("lb", "river", "B")])
    assert q(res, "A")[0] == pytest.approx(0.7, abs=1e-9)
    assert q(res, "B")[0] == pytest.approx(1 - 0.7 / 0.81, abs=1e-9)
    assert_balanced(res)


def test_priority_reason_is_higher_priority():
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.7 m3/s", 1), dem("B", "b", "0.6 m3/s", 2)],
              [link("la", "river", "A"), link("lb", "river", "B")])
    ex = res.explanations
    assert set(ex.instance) == {"B"}
    assert "higher_priority" in set(ex.reason) and "source_empty" in set(ex.reason)
    assert ex.shortfall.iloc[0] == pytest.approx(0.3)


@pytest.mark.parametrize("order,gw,riv", [(["lg", "lr"], 0.5, 0.3), (["lr", "lg"], 0.0, 0.8)])
def test_supply_preference(order, gw, riv):
    res = run([intake("river", "1 m3/s"), {"id": "wells", "type": "groundwater", "sustainable_yield": "0.5 m3/s"},
               dem("A", "a", "0.8 m3/s")],
              [link("lr", "river", "A"), link("lg", "wells", "A")],
              [{"type": "supply_preference", "party": "a", "order": order}])
    assert q(res, "A")[0] == pytest.approx(0.8)
    assert f(res, "lg")[0] == pytest.approx(gw, abs=1e-9)
    assert f(res, "lr")[0] == pytest.approx(riv, abs=1e-9)


@pytest.mark.parametrize("surplus,expect_a", [(3, 0.5), (None, 0.3)])
def test_entitlement_with_surplus(surplus, expect_a):
    # A: entitlement 0.3 at priority 1, the rest of its 0.8 at priority 3; B: 0.5 at priority 2.
    ag = {"type": "entitlement", "name": "ent", "party": "a", "demand": "A", "rate": "300 L/s", "priority": 1}
    if surplus:
        ag["surplus_priority"] = surplus
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.8 m3/s", 2), dem("B", "b", "0.5 m3/s", 2)],
              [link("la", "river", "A"), link("lb", "river", "B")], [ag])
    assert q(res, "B")[0] == pytest.approx(0.5)
    assert q(res, "A")[0] == pytest.approx(expect_a)
    if surplus is None:
        assert "agreement_cap" in set(res.explanations.reason)


def test_entitlement_tranches_and_termination():
    # Telake-style deal: 0.5 m3/s at priority 1 until 2024-01-02, then no claim at all.
    ag = {"type": "entitlement", "party": "a", "demand": "A", "tranches": [{"rate": "0.2 m3/s", "priority": 1},
                                                                          {"rate": "0.3 m3/s", "priority": 2}],
          "end": "2024-01-02"}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.6 m3/s", 1)], [link("la", "river", "A")], [ag], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.5, 0.0], atol=1e-9)
    claims = res.claims[res.claims.time == res.times[0]].set_index("claim")
    assert claims.loc["A:entitlement_0:1", "delivered"] == pytest.approx(0.2 * DAY)
    assert claims.loc["A:entitlement_0:2", "delivered"] == pytest.approx(0.3 * DAY)


def test_delivery_cap_pipe_capacity_outage_and_outlet_basis():
    res = run([intake("river", "2 m3/s"), dem("A", "a", "0.6 m3/s", cap="0.4 m3/s"), dem("B", "b", "1 m3/s"),
               dem("C", "c", "1 m3/s")],
              [link("la", "river", "A"),
               link("lb", "river", "B", capacity="0.5 m3/s", outages=[{"start": "2024-01-02", "end": "2024-01-03"}]),
               link("lc", "river", "C", loss_fraction=0.2, capacity="0.4 m3/s", capacity_basis="outlet")], steps=3)
    np.testing.assert_allclose(q(res, "A"), 0.4, atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), [0.5, 0.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(q(res, "C"), 0.4, atol=1e-9)          # net (outlet) capacity
    np.testing.assert_allclose(f(res, "lc"), 0.5, atol=1e-9)         # gross = 0.4 / 0.8
    ex = res.explanations
    assert set(ex[ex.instance == "B"].reason) >= {"pipe_full"}
    assert set(ex[ex.instance == "A"].reason) == {"agreement_cap"}
    assert_balanced(res)


def test_licence_annual_reset_and_carry_over():
    # 0.5 m3/s = 43 200 m3/day; 150 000 m3 per period starting 01-04; carry 50 % of unused, at most 10 000 m3
    ag = {"type": "licence", "party": "a", "demands": ["A"], "volume": "150000 m3", "reset": "01-04",
          "carry_over_fraction": 0.5, "carry_over_max": "10000 m3"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "0.5 m3/s")], [link("la", "river", "A")], [ag], steps=7)
    vol = res.delivered[:, 0]
    # days 1-3 (old period): 129 600 used, 20 400 unused -> carry min(10 000, 10 200) = 10 000
    np.testing.assert_allclose(vol, [43200, 43200, 43200, 43200, 43200, 43200, 160000 - 3 * 43200], atol=1e-6)
    st = res.agreement_state
    assert st["licence_0:carry_over"].iloc[3] == pytest.approx(10000)
    assert "agreement_cap" in set(res.explanations.reason)


def test_licence_rolling_and_even():
    roll = {"type": "licence", "name": "roll", "party": "a", "demands": ["A"], "volume": "100000 m3",
            "period": "rolling", "window": 2}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [roll], steps=4)
    np.testing.assert_allclose(res.delivered[:, 0], [86400, 13600, 86400, 13600], atol=1e-6)
    even = {"type": "licence", "name": "even", "party": "a", "demands": ["A"], "volume": "90000 m3",
            "period": "even", "reset": "01-04"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [even], steps=4)
    # 3 steps left in the period 2023-01-04..2024-01-03; the next period has 366 days (2024 is a leap year)
    np.testing.assert_allclose(res.delivered[:, 0], [30000, 30000, 30000, 90000 / 366], rtol=1e-9)


@pytest.mark.parametrize("mode,a,b", [("lapse", 0.3, 0.4), ("redistribute", 0.3, 0.7)])
def test_percentage_share(mode, a, b):
    ag = {"type": "share", "name": "dam", "source": "river", "unused": mode,
          "shares": [{"party": "a", "link": "la", "fraction": 0.6}, {"party": "b", "link": "lb", "fraction": 0.4}]}
    if mode == "redistribute":
        ag["priority"] = 1
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.3 m3/s", 2), dem("B", "b", "0.9 m3/s", 2),
               {"id": "sea", "type": "outlet"}],
              [link("la", "river", "A"), link("lb", "river", "B"), link("ls", "river", "sea")], [ag])
    assert q(res, "A")[0] == pytest.approx(a)
    assert q(res, "B")[0] == pytest.approx(b)
    if mode == "lapse":
        assert "agreement_cap" in set(res.explanations[res.explanations.instance == "B"].reason)


def test_redistribute_in_proportion_to_shares():
    # three parties 0.5/0.3/0.2 of 1 m3/s; A needs only 0.1 -> 0.4 is shared 0.3:0.2 by B and C
    ag = {"type": "share", "source": "river", "unused": "redistribute", "priority": 1,
          "shares": [{"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.3},
                     {"party": "c", "link": "lc", "fraction": 0.2}]}
    # the share's claims (priority 1) are senior to the demands' own claims (priority 2)
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.1 m3/s", 2), dem("B", "b", "1 m3/s", 2),
               dem("C", "c", "1 m3/s", 2)],
              [link("la", "river", "A"), link("lb", "river", "B"), link("lc", "river", "C")], [ag])
    assert q(res, "A")[0] == pytest.approx(0.1)
    assert q(res, "B")[0] == pytest.approx(0.3 + 0.4 * 0.6)
    assert q(res, "C")[0] == pytest.approx(0.2 + 0.4 * 0.4)


def test_reserve_before_sharing():
    ags = [{"type": "share", "name": "s", "source": "river", "shares": [
               {"party": "a", "link": "la", "fraction": 0.6}, {"party": "b", "link": "lb", "fraction": 0.4}]},
           {"type": "reserve", "source": "river", "rate": "0.2 m3/s"}]
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [link("la", "river", "A"), link("lb", "river", "B")], ags)
    assert q(res, "A")[0] == pytest.approx(0.6 * 0.8)
    assert q(res, "B")[0] == pytest.approx(0.4 * 0.8)


MAHAKAM = [intake("wtp", "1 m3/s"), {"id": "hub", "type": "junction"},
           dem("BPN", "a", "0.8 m3/s"), dem("KUKAR", "b", "0.25 m3/s"), dem("PPU", "c", "0.3 m3/s")]
MAHAKAM_LINKS = [link("in", "wtp", "hub"), link("l_bpn", "hub", "BPN"), link("l_kukar", "hub", "KUKAR"),
                 link("l_ppu", "hub", "PPU", capacity="0.1 m3/s")]


def test_equal_coverage_water_filling_with_capped_party():
    # 0.8c + 0.25c + min(0.1, 0.3c) = 1  ->  c = 0.9/1.05 (PPU capped by its pipe)
    res = run(MAHAKAM, MAHAKAM_LINKS)
    c = 0.9 / 1.05
    assert q(res, "BPN")[0] == pytest.approx(0.8 * c, abs=1e-9)
    assert q(res, "KUKAR")[0] == pytest.approx(0.25 * c, abs=1e-9)
    assert q(res, "PPU")[0] == pytest.approx(0.1, abs=1e-9)
    assert set(res.explanations[res.explanations.instance == "PPU"].reason) >= {"pipe_full"}


def test_pro_rata_of_entitlements_with_capped_party():
    ag = {"type": "pro_rata", "name": "mahakam", "priority": 1, "parties": [
        {"party": "a", "demand": "BPN", "entitlement": "0.5 m3/s"},
        {"party": "b", "demand": "KUKAR", "entitlement": "0.3 m3/s"},
        {"party": "c", "demand": "PPU", "entitlement": "0.2 m3/s"}]}
    nodes = [intake("wtp", "0.6 m3/s")] + MAHAKAM[1:]
    res = run(nodes, MAHAKAM_LINKS, [ag])
    # 0.5c + 0.3c + min(0.1, 0.2c) = 0.6 -> c = 0.625
    assert q(res, "BPN")[0] == pytest.approx(0.3125, abs=1e-9)
    assert q(res, "KUKAR")[0] == pytest.approx(0.1875, abs=1e-9)
    assert q(res, "PPU")[0] == pytest.approx(0.1, abs=1e-9)


def _reservoir(initial="0.4 Mm3", **kw):
    r = {"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": initial}
    r.update(kw)
    return r


def test_drought_tiers_multipliers():
    ag = {"type": "drought_tiers", "name": "manggar_rule", "reservoir": R, "curves": [0.5, 0.3],
          "targets": [{"demand": "A", "multipliers": [1.0, 0.5, 0.25]}]}
    res = run([_reservoir(), dem("A", "a", "1 m3/s")], [link("la", R, "A")], [ag], steps=4)
    # storage 40 % -> tier 1 (0.5); 35.7 %, 31.4 % -> tier 1; 27.0 % -> tier 2 (0.25)
    np.testing.assert_allclose(q(res, "A"), [0.5, 0.5, 0.5, 0.25], atol=1e-9)
    np.testing.assert_allclose(res.agreement_state["manggar_rule:level"], [1, 1, 1, 2])
    assert set(res.explanations.reason) == {"drought_tier"}
    ds = res.to_dataset("reservoir")
    np.testing.assert_allclose(ds["drought_tier"].values[0], [1, 1, 1, 2])


def test_drought_tier_link_limits_and_hysteresis():
    # Oct 2023 rule: abstraction 1.1 -> 0.58 m3/s below the curve; the tier is left only after 2 steps above it
    ag = {"type": "drought_tiers", "reservoir": R, "curves": [0.5], "hysteresis_steps": 2,
          "targets": [{"link": "la", "limits": ["1100 L/s", "580 L/s"]}]}
    inflow = series([0, 20, 0, 0, 0])  # 20 m3/s for a day lifts storage above 50 %
    res = run([_reservoir(initial="0.45 Mm3", inflow=inflow), dem("A", "a", "1.1 m3/s")], [link("la", R, "A")],
              [ag], steps=5)
    lev = res.agreement_state["drought_tiers_0:level"].to_numpy()
    # day 1: 45 % -> 1; day 2: start 40 % -> 1; day 3: start > 50 % but hysteresis -> 1; day 4: second step -> 0
    np.testing.assert_allclose(lev, [1, 1, 1, 0, 0])
    np.testing.assert_allclose(q(res, "A"), [0.58, 0.58, 0.58, 1.1, 1.1], atol=1e-9)


def test_storage_accounts():
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.7}, {"party": "b", "links": ["lb"], "inflow_share": 0.3}]}
    res = run([_reservoir(initial="0.5 Mm3", inflow="0.1 m3/s"), dem("A", "a", "0.1 m3/s"), dem("B", "b", "1 m3/s")],
              [link("la", R, "A"), link("lb", R, "B")], [ag], steps=3)
    # B's account: 150 000 + 0.3*8640 per day; takes 86 400/day while it lasts
    b0 = 150000.0
    inc = 0.3 * 8640
    d1 = 86400.0
    d2 = b0 + 2 * inc - d1
    np.testing.assert_allclose(res.delivered[:, 1], [d1, d2, inc], rtol=1e-9)
    a_bal = res.agreement_state["acc:a"].to_numpy()
    np.testing.assert_allclose(a_bal, 350000 + np.arange(1, 4) * (0.7 * 8640 - 8640), rtol=1e-9)
    np.testing.assert_allclose(res.agreement_state[["acc:a", "acc:b"]].sum(axis=1), res.storage[:, 0], rtol=1e-9)
    assert "agreement_cap" in set(res.explanations[res.explanations.instance == "B"].reason)


def test_min_flow_deficit_is_reported_not_infeasible():
    ag = {"type": "min_flow", "name": "eflow", "link": "ls", "flow": "0.5 m3/s"}
    res = run([intake("river", "0.3 m3/s"), dem("A", "a", "1 m3/s"), {"id": "sea", "type": "outlet"}],
              [link("la", "river", "A"), link("ls", "river", "sea")], [ag])
    assert f(res, "ls")[0] == pytest.approx(0.3)
    assert q(res, "A")[0] == pytest.approx(0.0, abs=1e-9)
    ex = res.explanations.set_index("instance")
    assert ex.loc["eflow:ls", "shortfall"] == pytest.approx(0.2)
    assert "higher_priority" in set(res.explanations[res.explanations.instance == "A"].reason)


def test_min_flow_fraction_of_natural_flow():
    ag = {"type": "min_flow", "link": "ls", "fraction": 0.3, "natural_node": "river"}
    res = run([intake("river", "2 m3/s"), dem("A", "a", "5 m3/s"), {"id": "sea", "type": "outlet"}],
              [link("la", "river", "A"), link("ls", "river", "sea")], [ag])
    assert f(res, "ls")[0] == pytest.approx(0.6)
    assert q(res, "A")[0] == pytest.approx(1.4)


def test_border_obligation_cumulative():
    ag = {"type": "border_obligation", "name": "border", "party": "b", "link": "lx", "flow": "0.5 m3/s",
          "priority": 1, "cumulative": True}
    res = run([intake("river", series([0.3, 1.0, 1.0])), dem("A", "a", "1 m3/s", 2), {"id": "nb", "type": "outlet"}],
              [link("la", "river", "A"), link("lx", "river", "nb")], [ag], steps=3)
    np.testing.assert_allclose(f(res, "lx"), [0.3, 0.7, 0.5], atol=1e-9)
    np.testing.assert_allclose(q(res, "A"), [0.0, 0.3, 0.5], atol=1e-9)
    np.testing.assert_allclose(res.agreement_state["border:balance"] / DAY, [-0.2, 0.0, 0.0], atol=1e-9)


def test_hands_off_flow():
    ag = {"type": "hands_off_flow", "node": "river", "threshold": "0.5 m3/s", "links": ["la"]}
    res = run([intake("river", series([0.2, 1.0])), dem("A", "a", "0.1 m3/s")], [link("la", "river", "A")], [ag], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.0, 0.1], atol=1e-9)
    assert "agreement_cap" in set(res.explanations.reason)


def test_reciprocal_return_share():
    # Johor-style: B takes raw water from A's river, A may get back up to 2 % of the take as treated water.
    ag = {"type": "reciprocal", "party": "a", "take_link": "take", "return_link": "back", "fraction": 0.02}
    res = run([intake("river", "10 m3/s"), {"id": "plant", "type": "junction"}, dem("SG", "b", "5 m3/s"),
               dem("JB", "a", "1 m3/s")],
              [link("take", "river", "plant"), link("to_sg", "plant", "SG"), link("back", "plant", "JB")], [ag])
    r = 0.1 / 0.98
    assert q(res, "SG")[0] == pytest.approx(5.0)
    assert q(res, "JB")[0] == pytest.approx(r)
    assert f(res, "take")[0] == pytest.approx(5 + r)


@pytest.mark.parametrize("lag,expect_b", [(0, [0.225, 0.225]), (1, [0.0, 0.225])])
def test_conveyance_loss_and_return_flow_lag(lag, expect_b):
    res = run([intake("river", "1 m3/s"), dem("A", "a", "0.45 m3/s"), {"id": "j", "type": "junction"},
               dem("B", "b", "1 m3/s"), {"id": "sea", "type": "outlet"}],
              [link("la", "river", "A", loss_fraction=0.1, capacity="0.5 m3/s"),
               link("ret", "A", "j", return_fraction=0.5, lag=lag), link("jb", "j", "B"), link("js", "j", "sea")],
              steps=2)
    np.testing.assert_allclose(q(res, "A"), 0.45, atol=1e-9)
    np.testing.assert_allclose(f(res, "la"), 0.5, atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), expect_b, atol=1e-9)
    assert_balanced(res)


def test_reservoir_dead_storage_evaporation_and_spill():
    res_node = {"id": R, "type": "reservoir", "capacity": "100000 m3", "dead_storage": "20000 m3",
                "initial_storage": "50000 m3", "inflow": series([0.0, 2.0]), "evaporation": "10 mm/d", "area": "100 ha",
                "overflow_to": "sea"}
    res = run([res_node, dem("A", "a", "1 m3/s"), {"id": "sea", "type": "outlet"}], [link("la", R, "A")], steps=2)
    # day 1: evaporation 10 mm x 1e6 m2 = 10 000 m3; usable 50 000 - 10 000 - 20 000 = 20 000 m3
    assert res.delivered[0, 0] == pytest.approx(20000)
    assert res.storage[0, 0] == pytest.approx(20000)
    # day 2: 20 000 + 172 800 - 10 000 - 86 400 = 96 400 (below capacity, no spill)
    assert res.storage[1, 0] == pytest.approx(96400)
    assert res.spill[:, 0].max() == pytest.approx(0.0, abs=1e-6)
    assert "source_empty" in set(res.explanations.reason)
    assert_balanced(res)


@pytest.mark.parametrize("sharing,a,b", [("equal", 1 / 3, 1 / 3), ("max_total", 0.0, 1.0)])
def test_level_sharing_equal_versus_max_total(sharing, a, b):
    # A sits behind a 50 % lossy link: equal coverage c/0.5 + c = 1 -> c = 1/3; max_total gives all to B
    ags = [{"type": "level_sharing", "priority": 1, "sharing": sharing}]
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [link("la", "river", "A", loss_fraction=0.5), link("lb", "river", "B")], ags)
    assert q(res, "A")[0] == pytest.approx(a, abs=1e-9)
    assert q(res, "B")[0] == pytest.approx(b, abs=1e-9)


def test_agreement_quantity_without_units_is_a_config_error():
    from hydro.errors import ConfigError

    with pytest.raises(ConfigError, match=r"agreements\[0\]\.rate.*units missing"):
        run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")],
            [{"type": "entitlement", "party": "a", "demand": "A", "rate": "300", "priority": 1}])


def test_pro_rata_demand_above_the_entitlement_is_an_agreement_cap():
    # plenty of water (5 m3/s), A asks 1 m3/s on an entitlement of 0.4 with no surplus claim: A gets 0.4 and the
    # 0.6 short is the agreement's cap (as for `entitlement`), not 'not_claimed'
    ag = {"type": "pro_rata", "name": "scheme", "priority": 1,
          "parties": [{"party": "a", "demand": "A", "entitlement": "0.4 m3/s"}]}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [ag])
    assert q(res, "A")[0] == pytest.approx(0.4, abs=1e-9)
    ex = res.explanations[res.explanations.instance == "A"]
    assert "agreement_cap" in set(ex.reason) and any("scheme" in c for c in ex.constraint)
