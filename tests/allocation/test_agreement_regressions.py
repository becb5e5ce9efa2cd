"""Regression tests for reviewed agreement bugs: tiny networks with hand-derived answers (m3/s, daily steps)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from alloc_helpers import DAY, assert_balanced, dem, f, intake, link, q, run, series
from hydro.allocation import allocate, load_network
from hydro.errors import ConfigError

R = "res"
TOL = 1e-6


# ----------------------------------------------------------------- 1. outlet-basis links and share caps
def _lossy_outlet_link(capacity="10 m3/s"):
    return link("la", "river", "A", loss_fraction=0.2, capacity=capacity, capacity_basis="outlet")


def test_share_lapse_cap_is_inlet_water_on_outlet_basis_link():
    # river 1, shares 0.5/0.5: la may draw 0.5 of the river's water (inlet) -> A gets 0.8 * 0.5 = 0.4, B 0.5.
    # The generous outlet-basis capacity (10 m3/s delivered) must not inflate the share cap to 0.5 / 0.8.
    ag = {"type": "share", "name": "s", "source": "river", "unused": "lapse",
          "shares": [{"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.5}]}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [_lossy_outlet_link(), link("lb", "river", "B")], [ag])
    assert f(res, "la")[0] == pytest.approx(0.5, abs=TOL)
    assert q(res, "A")[0] == pytest.approx(0.4, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.5, abs=TOL)
    assert_balanced(res)


def test_shortage_share_allotment_is_inlet_water_on_outlet_basis_link():
    # ΣE = 2, A_t = 1 -> shortage 1, σ = 0.5/0.5 -> allotments 0.5 / 0.5 of the river's water (inlet)
    ag = {"type": "shortage_share", "name": "ss", "source": "river", "parties": [
        {"party": "a", "link": "la", "entitlement": "1 m3/s", "shortage_fraction": 0.5},
        {"party": "b", "link": "lb", "entitlement": "1 m3/s", "shortage_fraction": 0.5}]}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [_lossy_outlet_link(), link("lb", "river", "B")], [ag])
    assert f(res, "la")[0] == pytest.approx(0.5, abs=TOL)
    assert f(res, "lb")[0] == pytest.approx(0.5, abs=TOL)
    assert q(res, "A")[0] == pytest.approx(0.4, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.5, abs=TOL)


# ----------------------------------------------------------------- 2. redistribute with a net capacity
def test_share_redistribute_uses_inlet_capacity_of_outlet_basis_link():
    # la delivers at most 0.4 (outlet basis) = 0.5 drawn; shares 0.5/0.5 of 1 -> la draws 0.5, A 0.4, B 0.5
    ag = {"type": "share", "name": "s", "source": "river", "unused": "redistribute", "priority": 1,
          "shares": [{"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.5}]}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "1 m3/s", 2)],
              [_lossy_outlet_link("0.4 m3/s"), link("lb", "river", "B")], [ag])
    assert f(res, "la")[0] == pytest.approx(0.5, abs=TOL)
    assert q(res, "A")[0] == pytest.approx(0.4, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.5, abs=TOL)


# ----------------------------------------------------------------- 3. storage accounts conserve water
def test_storage_accounts_sum_to_storage_when_a_non_account_link_draws():
    # S0 = 4 (day-volumes), accounts 3.6 / 0.4 (initial shares 0.9 / 0.1), α = 0.5 / 0.5, no inflow.
    # C draws 1 per day through a link of no account: charged 0.5 / 0.5 by α; b can bear only 0.4,
    # so a bears the other 0.1: day 1 -> 3.0 / 0.0; then a bears it all: 2.0 / 0.0, 1.0 / 0.0.
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.5, "initial_share": 0.9},
        {"party": "b", "links": ["lb"], "inflow_share": 0.5, "initial_share": 0.1}]}
    res = run([{"id": R, "type": "reservoir", "capacity": f"{10 * DAY} m3", "initial_storage": f"{4 * DAY} m3"},
               dem("A", "a", "0 m3/s"), dem("B", "b", "0 m3/s"), dem("C", "c", "1 m3/s")],
              [link("la", R, "A"), link("lb", R, "B"), link("lc", R, "C")], [ag], steps=3)
    st = res.agreement_state
    np.testing.assert_allclose(res.storage[:, 0] / DAY, [3.0, 2.0, 1.0], atol=TOL)
    np.testing.assert_allclose(st["acc:a"] / DAY, [3.0, 2.0, 1.0], atol=TOL)
    np.testing.assert_allclose(st["acc:b"] / DAY, [0.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(st[["acc:a", "acc:b"]].sum(axis=1) / DAY, res.storage[:, 0] / DAY, atol=TOL)


def test_storage_accounts_non_account_draw_charged_by_inflow_share():
    # accounts 3 / 1, α = 0.5 / 0.5: C's draw of 1 costs each account 0.5 -> 2.5 / 0.5
    ag = {"type": "storage_accounts", "name": "acc", "reservoir": R, "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": 0.5, "initial_share": 0.75},
        {"party": "b", "links": ["lb"], "inflow_share": 0.5, "initial_share": 0.25}]}
    res = run([{"id": R, "type": "reservoir", "capacity": f"{10 * DAY} m3", "initial_storage": f"{4 * DAY} m3"},
               dem("A", "a", "0 m3/s"), dem("B", "b", "0 m3/s"), dem("C", "c", "1 m3/s")],
              [link("la", R, "A"), link("lb", R, "B"), link("lc", R, "C")], [ag], steps=2)
    st = res.agreement_state
    np.testing.assert_allclose(st["acc:a"] / DAY, [2.5, 2.0], atol=TOL)
    np.testing.assert_allclose(st["acc:b"] / DAY, [0.5, 0.0], atol=TOL)


# ----------------------------------------------------------------- 4. share of storage below dead storage
def test_share_of_storage_starting_below_dead_storage():
    # dead 2, S0 = 1, inflow 3 (day-volumes): usable A_t = max(0, 1 + 3 - 2) = 2 -> shares 1 / 1
    ag = {"type": "share", "name": "s", "source": R, "available": "storage", "unused": "lapse",
          "shares": [{"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.5}]}
    res = run([{"id": R, "type": "reservoir", "capacity": "1 Mm3", "dead_storage": f"{2 * DAY} m3",
                "initial_storage": f"{1 * DAY} m3", "inflow": "3 m3/s"},
               dem("A", "a", "5 m3/s", 1), dem("B", "b", "5 m3/s", 2)],
              [link("la", R, "A"), link("lb", R, "B")], [ag])
    assert res.agreement_state["s:available"].iloc[0] / DAY == pytest.approx(2.0, abs=TOL)
    assert q(res, "A")[0] == pytest.approx(1.0, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(1.0, abs=TOL)
    assert res.storage[0, 0] / DAY == pytest.approx(2.0, abs=TOL)


# ----------------------------------------------------------------- 5. preference behind a lossy link
def test_supply_preference_draws_preferred_lossy_link_first():
    # the river is preferred; its link loses 60 %: 0.8 delivered needs 2.0 drawn; the wells stay unused
    res = run([intake("river", "5 m3/s"), {"id": "wells", "type": "groundwater", "sustainable_yield": "5 m3/s"},
               dem("A", "a", "0.8 m3/s")],
              [link("lr", "river", "A", loss_fraction=0.6), link("lg", "wells", "A")],
              [{"type": "supply_preference", "party": "a", "order": ["lr", "lg"]}])
    assert q(res, "A")[0] == pytest.approx(0.8, abs=TOL)
    assert f(res, "lr")[0] == pytest.approx(2.0, abs=TOL)
    assert f(res, "lg")[0] == pytest.approx(0.0, abs=TOL)
    assert_balanced(res)


# ----------------------------------------------------------------- 6. licence use before start
def test_licence_counts_no_use_before_start():
    # 2 day-volumes from 2024-01-03: days 1-2 unlicensed (1, 1), days 3-4 use the licence, day 5 nothing left
    ag = {"type": "licence", "name": "lic", "party": "a", "demands": ["A"], "volume": f"{2 * DAY} m3",
          "reset": "01-01", "start": "2024-01-03"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [ag], steps=5)
    np.testing.assert_allclose(q(res, "A"), [1, 1, 1, 1, 0], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["lic:licence_used"] / DAY, [0, 0, 1, 2, 2], atol=TOL)


def test_rolling_licence_counts_no_use_before_start():
    ag = {"type": "licence", "name": "lic", "party": "a", "demands": ["A"], "volume": f"{2 * DAY} m3",
          "period": "rolling", "window": 3, "start": "2024-01-03"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [ag], steps=5)
    # window of days 3-5 holds 2 -> day 5 gets 0
    np.testing.assert_allclose(q(res, "A"), [1, 1, 1, 1, 0], atol=TOL)


# ----------------------------------------------------------------- 7. obligation credit before start
def test_border_obligation_earns_no_credit_before_start():
    # days 1-2: A (return 50 % to j) and C share the river 0.5 / 0.5; A's return 0.25 is forced over lx
    # before the obligation starts (no credit). From day 3 the 0.5 obligation (priority 1) takes the whole
    # river (0.5) via rj -> lx and C gets nothing; balance 0 throughout.
    ag = {"type": "border_obligation", "name": "border", "party": "b", "link": "lx", "flow": "0.5 m3/s",
          "priority": 1, "cumulative": True, "start": "2024-01-03"}
    res = run([intake("river", series([1.0, 1.0, 0.5, 0.5])), dem("A", "a", series([1, 1, 0, 0]), 2),
               {"id": "j", "type": "junction"}, dem("C", "c", "1 m3/s", 2), {"id": "nb", "type": "outlet"}],
              [link("la", "river", "A"), link("ret", "A", "j", return_fraction=0.5), link("rj", "river", "j"),
               link("lx", "j", "nb"), link("lc", "river", "C")], [ag], steps=4)
    np.testing.assert_allclose(f(res, "lx"), [0.25, 0.25, 0.5, 0.5], atol=TOL)
    np.testing.assert_allclose(q(res, "C"), [0.5, 0.5, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["border:balance"] / DAY, [0, 0, 0, 0], atol=TOL)


# ----------------------------------------------------------------- 8. even licence, steps left
@pytest.mark.parametrize("steps", [3, 60])
def test_even_licence_steps_left_independent_of_run_length(steps):
    # weekly steps from 2024-01-04, reset 01-04: the period (366 days) holds the steps starting on
    # 2024-01-04 + 7k, k = 0..52 (k = 52: 2025-01-02) -> 53 steps; x = 5.2e6 / 53 per step
    even = {"type": "licence", "name": "even", "party": "a", "demands": ["A"], "volume": "5.2e6 m3",
            "period": "even", "reset": "01-04"}
    res = run([intake("river", "50 m3/s"), dem("A", "a", "100 m3/s")], [link("la", "river", "A")], [even],
              steps=steps, start="2024-01-04", timestep="7D")
    np.testing.assert_allclose(res.delivered[:3, 0], 5.2e6 / 53, rtol=1e-9)


# ----------------------------------------------------------------- 9. drought multiplier, no capacity
def _tier_run(mult, loss=0.0):
    ag = {"type": "drought_tiers", "reservoir": R, "curves": [0.5], "targets": [{"link": "la", "multipliers": [1.0, mult]}]}
    return run([{"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.2 Mm3"}, dem("A", "a", "1 m3/s")],
               [link("la", R, "A", loss_fraction=loss)], [ag])


def test_drought_multiplier_zero_closes_uncapacitated_link():
    res = _tier_run(0.0)  # storage 20 % < 50 % -> tier 1
    assert res.agreement_state.iloc[0, 0] == 1
    assert q(res, "A")[0] == pytest.approx(0.0, abs=TOL)
    assert "drought_tier" in set(res.explanations.reason)


def test_drought_multiplier_on_uncapacitated_link_scales_its_demand():
    # no capacity: the multiplier cuts the flow needed to meet the demand: 0.5 x 1 / 0.8 drawn, 0.5 delivered
    res = _tier_run(0.5, loss=0.2)
    assert f(res, "la")[0] == pytest.approx(0.625, abs=TOL)
    assert q(res, "A")[0] == pytest.approx(0.5, abs=TOL)


def test_drought_multiplier_on_uncapacitated_link_without_demand_is_an_error():
    ag = {"type": "drought_tiers", "reservoir": R, "curves": [0.5], "targets": [{"link": "lo", "multipliers": [1.0, 0.5]}]}
    with pytest.raises(ConfigError, match="no capacity"):
        run([{"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.2 Mm3"}, dem("A", "a", "1 m3/s"),
             {"id": "sea", "type": "outlet"}], [link("la", R, "A"), link("lo", R, "sea")], [ag])


# ----------------------------------------------------------------- 10. tz-aware time axis
UTC_START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def test_licence_on_tz_aware_time_axis():
    # 150 000 m3 per period from 01-04, 43 200 m3/day: days 1-3 old period, days 4-6 full, day 7 the rest
    ag = {"type": "licence", "party": "a", "demands": ["A"], "volume": "150000 m3", "reset": "01-04"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "0.5 m3/s")], [link("la", "river", "A")], [ag], steps=7,
              start=UTC_START)
    np.testing.assert_allclose(res.delivered[:, 0], [43200] * 6 + [150000 - 3 * 43200], atol=1e-6)


def test_agreement_dates_on_tz_aware_time_axis():
    # end (a date) = 2024-01-02 00:00 UTC: the entitlement (0.2, no surplus) holds on day 1 only
    ag = {"type": "entitlement", "party": "a", "demand": "A", "rate": "0.2 m3/s", "priority": 1,
          "end": dt.date(2024, 1, 2)}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "0.5 m3/s")], [link("la", "river", "A")], [ag], steps=3,
              start=UTC_START)
    np.testing.assert_allclose(q(res, "A"), [0.2, 0.0, 0.0], atol=TOL)


def test_toml_utc_start_with_date_agreement_and_aware_date_on_naive_axis(tmp_path):
    text = """
[network]
name = "tz"
start = 2024-01-01T00:00:00Z
steps = 5
timestep = "1D"

[[regions]]
id = "a"

[[nodes]]
id = "river"
type = "intake"
inflow = "5 m3/s"

[[nodes]]
id = "A"
type = "demand"
region = "a"
demand = "1 m3/s"
priority = 1

[[links]]
id = "la"
from = "river"
to = "A"

[[agreements]]
type = "licence"
name = "lic"
party = "a"
demands = ["A"]
volume = "172800 m3"
start = 2024-01-03
"""
    p = tmp_path / "tz.toml"
    p.write_text(text)
    res = allocate(load_network(p))
    np.testing.assert_allclose(res.delivered[:, 0] / DAY, [1, 1, 1, 1, 0], atol=TOL)
    # the same file with a naive axis and a tz-aware agreement start (read as UTC)
    p.write_text(text.replace("start = 2024-01-01T00:00:00Z", "start = 2024-01-01")
                 .replace("start = 2024-01-03", "start = 2024-01-03T00:00:00Z"))
    res = allocate(load_network(p))
    np.testing.assert_allclose(res.delivered[:, 0] / DAY, [1, 1, 1, 1, 0], atol=TOL)
