"""Review (allocation agreements): two default-replacing agreements on one demand delivered twice the request,
drought control curves outside 0..1 were accepted, carry-over accrued in periods before an agreement's start."""
from __future__ import annotations

import pytest

from alloc_helpers import dem, intake, link, make_net, run
from hydro.allocation import load_network
from hydro.errors import ConfigError

DAY = 86400.0


def _d(res, demand):
    """Delivered volume [m3 per step] of one demand."""
    return res.delivered[:, res.demand_ids.index(demand)]


def _simple(q_source="1000 m3/d", demand="10 m3/d"):
    return [intake("s", q_source), dem("d", "a", demand)], [link("l", "s", "d")]


@pytest.mark.parametrize("second", [
    {"type": "entitlement", "party": "a", "demand": "d", "rate": "6 m3/d", "priority": 2, "surplus_priority": 3},
    {"type": "period_entitlement", "party": "a", "demand": "d", "volume": "100 m3", "priority": 2},
    {"type": "banking", "party": "a", "demand": "d", "rate": "6 m3/d", "priority": 2, "max_balance": "10 m3"},
    {"type": "pro_rata", "priority": 2, "parties": [{"party": "a", "demand": "d", "entitlement": "6 m3/d"}]},
])
def test_two_agreements_replacing_one_demand_tranche_are_refused(second):
    # before the fix: 10 m3/d asked, 8 + 2 (first entitlement) + 6 + 4 (second) = 20 m3/d delivered
    nodes, links = _simple()
    first = {"type": "entitlement", "party": "a", "demand": "d", "rate": "8 m3/d", "priority": 1,
             "surplus_priority": 3}
    with pytest.raises(ConfigError, match=r"agreements\[1\].*demand 'd' is also covered by entitlement"):
        load_network(make_net(nodes, links, [first, second]))


def test_pro_rata_listing_a_demand_twice_is_refused():
    nodes, links = _simple()
    ag = {"type": "pro_rata", "priority": 1, "parties": [{"party": "a", "demand": "d", "entitlement": "8 m3/d"},
                                                          {"party": "a", "demand": "d", "entitlement": "8 m3/d"}]}
    with pytest.raises(ConfigError, match=r"parties\[1\]\.demand.*listed twice"):
        load_network(make_net(nodes, links, [ag]))


def test_one_entitlement_with_two_tranches_delivers_the_request_once():
    # the supported way to write two deals on one demand: tranches 8 (p1) + 6 (p2) of D = 10 -> 8 + 2 = 10
    nodes, links = _simple()
    ag = {"type": "entitlement", "party": "a", "demand": "d", "tranches": [
        {"rate": "8 m3/d", "priority": 1}, {"rate": "6 m3/d", "priority": 2}]}
    res = run(nodes, links, [ag], steps=1)
    assert _d(res, "d")[0] == pytest.approx(10.0, abs=1e-9)


@pytest.mark.parametrize("curves", [[62.0], [-0.1], [[0.5] * 11 + [1.5]]])
def test_drought_control_curves_outside_0_1_are_refused(curves):
    # before the fix a curve of 62 (meant as 62 %) put a full reservoir in tier 1: 50 of 100 m3 delivered
    nodes = [{"id": "r", "type": "reservoir", "capacity": "1000 m3", "initial_storage": "1000 m3",
              "dead_storage": "0 m3", "inflow": "0 m3/d"}, dem("d", "a", "100 m3/d")]
    ag = {"type": "drought_tiers", "reservoir": "r", "curves": curves,
          "targets": [{"demand": "d", "multipliers": [1.0, 0.5]}]}
    with pytest.raises(ConfigError, match=r"curves\[0\].*fractions of the reservoir capacity"):
        load_network(make_net(nodes, [link("l", "r", "d")], [ag]))


def test_period_entitlement_no_carry_over_from_months_before_start():
    # 31 m3 per month from 1 March, carry 100 %; run from 1 January, demand 10 m3/d, no surplus claim.
    # Hand: January and February entitled nothing -> March gets V = 31 m3 (before the fix 31 + 2 x 31 = 93 m3).
    nodes, links = _simple()
    ag = {"type": "period_entitlement", "party": "a", "demand": "d", "volume": "31 m3", "period": "month",
          "priority": 1, "carry_over_fraction": 1.0, "carry_over_max": "1000 m3", "start": "2024-03-01"}
    res = run(nodes, links, [ag], steps=31 + 29 + 31, start="2024-01-01")
    d = _d(res, "d")
    assert d[:60].sum() == pytest.approx(0.0, abs=1e-9)
    assert d[60:].sum() == pytest.approx(31.0, abs=1e-6)
    assert d[60:64].tolist() == pytest.approx([10.0, 10.0, 10.0, 1.0], abs=1e-6)
    assert res.agreement_state["period_entitlement_0:carry_over"].iloc[60] == pytest.approx(0.0, abs=1e-9)


def test_period_entitlement_carry_over_within_validity_still_counts():
    # valid from the run start: January uses 10 of 31 m3 (demand 10 m3/d on 1 Jan only), carry 50 % of 21 = 10.5
    nodes = [intake("s", "1000 m3/d"), dem("d", "a", {"values": [10.0] + [0.0] * 30 + [10.0] * 5, "units": "m3/d"})]
    ag = {"type": "period_entitlement", "party": "a", "demand": "d", "volume": "31 m3", "period": "month",
          "priority": 1, "carry_over_fraction": 0.5, "carry_over_max": "1000 m3"}
    res = run(nodes, [link("l", "s", "d")], [ag], steps=36, start="2024-01-01")
    assert res.agreement_state["period_entitlement_0:carry_over"].iloc[31] == pytest.approx(10.5, abs=1e-9)
    assert _d(res, "d")[31:].sum() == pytest.approx(41.5, abs=1e-6)  # 31 + 10.5, 10 m3 on each of 5 days -> 4 x 10 + 1.5


def test_licence_no_carry_over_from_the_year_before_start():
    # annual licence 100 m3 from 2024-01-01 (reset 01-01, carry 100 %); run from 2023-12-01, demand 10 m3/d.
    # Hand: 2023 was not licensed -> 100 m3 in 2024 (before the fix 200 m3: the 'unused' 2023 volume carried over).
    nodes, links = _simple()
    ag = {"type": "licence", "party": "a", "demands": ["d"], "volume": "100 m3", "period": "annual",
          "reset": "01-01", "carry_over_fraction": 1.0, "carry_over_max": "1000 m3", "start": "2024-01-01"}
    res = run(nodes, links, [ag], steps=31 + 20, start="2023-12-01")
    d = _d(res, "d")
    assert d[:31].sum() == pytest.approx(310.0, abs=1e-6)  # not licensed yet: no limit
    assert d[31:].sum() == pytest.approx(100.0, abs=1e-6)
    assert res.agreement_state["licence_0:carry_over"].iloc[31] == pytest.approx(0.0, abs=1e-9)


def test_licence_carry_over_hourly_across_reset():
    # hourly steps across the reset: 35 m3 licence, 10 m3/h used 3 h before midnight -> unused 5, carry 50 % = 2.5
    nodes, links = [intake("s", "1000 m3/h"), dem("d", "a", "10 m3/h")], [link("l", "s", "d")]
    ag = {"type": "licence", "party": "a", "demands": ["d"], "volume": "35 m3", "period": "annual", "reset": "01-01",
          "carry_over_fraction": 0.5, "carry_over_max": "100 m3"}
    res = run(nodes, links, [ag], steps=7, start="2023-12-31T21:00", timestep="1h")
    assert _d(res, "d").tolist() == pytest.approx([10, 10, 10, 10, 10, 10, 7.5], abs=1e-6)
