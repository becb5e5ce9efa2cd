"""Agreement variants: running-average licence, fixed drought cuts, index-driven border obligation and
contractual minimum deliveries. Tiny networks with hand-derived answers (m3/s, daily steps;
1 m3/s for one day = 86 400 m3)."""
from __future__ import annotations

import numpy as np
import pytest

from alloc_helpers import DAY, assert_balanced, dem, f, intake, link, q, run, series
from hydro.errors import ConfigError

R = "res"
TOL = 1e-6


# ----------------------------------------------------------------- 1. running-average licence (§2.5)
def _ra(**kw):
    ag = {"type": "licence", "name": "nyc", "party": "a", "demands": ["A"], "period": "running_average",
          "rate": "1 m3/s", "reset": "01-01"}
    ag.update(kw)
    return ag


def test_running_average_licence_saves_allowance_and_resets():
    # r̄ = 1, Σ_{τ=t0}^{t} x_τ ≤ n_t (day-volumes), n_t = days since the last 01-01 incl. today.
    # 2023-12-30: t0 = 2023-01-01, n = 364, U = 0 -> the whole request 2 (U = 2)
    # 2023-12-31: n = 365 -> 363 left -> 2 (U = 4)
    # 2024-01-01: reset, U = 0, n = 1 -> 1 of 2 (without the reset: 366 - 4 -> 2)
    # 01-02: D = 0 -> 0, allowance 2 - 1 = 1 saved
    # 01-03: n = 3 -> 3 - 1 = 2 -> the whole 2 (U = 3)
    # 01-04: D = 0;  01-05: n = 5 -> 5 - 3 = 2 -> 2 (U = 5);  01-06: n = 6 -> 1 of 2 (U = 6)
    res = run([intake("river", "5 m3/s"), dem("A", "a", series([2, 2, 2, 0, 2, 0, 2, 2]))],
              [link("la", "river", "A")], [_ra()], steps=8, start="2023-12-30")
    np.testing.assert_allclose(q(res, "A"), [2, 2, 1, 0, 2, 0, 2, 1], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["nyc:licence_used"] / DAY, [2, 4, 1, 1, 3, 3, 5, 6], atol=TOL)
    ex = res.explanations
    assert set(ex.time) == {res.times[2], res.times[7]}
    assert set(ex.reason) == {"agreement_cap"}
    assert all("licence nyc" in c for c in ex.constraint)
    assert_balanced(res)


def test_running_average_licence_counts_only_use_while_valid():
    # valid from 2024-01-03: days 1-2 unlicensed (2, 2 delivered, not counted); on day 3 n = 3 -> 3 allowed
    # (the allowance runs from the reset date, use before start counts 0), day 4: 4 - 2 = 2 -> 2, day 5: 5 - 4 -> 1
    res = run([intake("river", "5 m3/s"), dem("A", "a", series([2, 2, 2, 2, 2]))], [link("la", "river", "A")],
              [_ra(start="2024-01-03")], steps=5, start="2024-01-01")
    np.testing.assert_allclose(q(res, "A"), [2, 2, 2, 2, 1], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["nyc:licence_used"] / DAY, [0, 0, 2, 4, 5], atol=TOL)


def test_running_average_licence_in_mgd_on_two_demands():
    # 800 mgd = 800 × 3785.411784 m3/d shared by two demands of 20 m3/s each on the reset day (n = 1)
    r = 800 * 3785.411784
    res = run([intake("river", "100 m3/s"), dem("A", "a", "20 m3/s"), dem("A2", "a", "20 m3/s")],
              [link("la", "river", "A"), link("la2", "river", "A2")],
              [_ra(rate="800 mgd", demands=["A", "A2"], reset="06-01")], start="2024-06-01")
    assert res.delivered[0].sum() == pytest.approx(r, rel=1e-9)
    assert res.delivered[0, 0] == pytest.approx(r / 2, rel=1e-9)  # equal coverage of the two requests


@pytest.mark.parametrize("change,key,text", [
    ({"rate": None}, "rate", "needs 'rate'"),
    ({"volume": "1 Mm3"}, "volume", "give 'rate' only"),
    ({"carry_over_fraction": 0.5}, "carry_over_fraction", "carry-over does not apply"),
    ({"carry_over_max": "1 Mm3"}, "carry_over_max", "carry-over does not apply"),
    ({"rate": "1 m3"}, "rate", "flow unit"),
    ({"period": "annual"}, "rate", "only for period = 'running_average'"),
    ({"period": "annual", "rate": None}, "volume", "needs 'volume'"),
])
def test_running_average_licence_bad_input(change, key, text):
    ag = {k: v for k, v in {**_ra(), **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=rf"agreements\[0\]\.{key}: .*{text}"):
        run([intake("river", "5 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")], [ag])


# ----------------------------------------------------------------- 2. fixed drought cuts (§2.8)
def test_drought_tier_fixed_cuts_on_demands_and_an_outlet_basis_link():
    # reservoir 10 day-volumes, S0 = 4 (40 %), no inflow; curves 0.5 / 0.3.
    # day 1: level 1. A: 1 - 0.25 = 0.75. C: max(0, 0.2 - 0.25) = 0. lb (outlet basis, λ = 0.2,
    #   C_out = 1.5): 1.5 - 0.5 = 1.0 delivered to B (demand 2), drawn 1.0 / 0.8 = 1.25. S = 4 - 2 = 2 (20 %)
    # day 2: level 2. A: 1 - 0.5 = 0.5. lb: 1.5 - 1.0 = 0.5 delivered, 0.625 drawn. S = 2 - 1.125 = 0.875
    ag = {"type": "drought_tiers", "name": "mead", "reservoir": R, "curves": [0.5, 0.3], "targets": [
        {"demand": "A", "cuts": ["0 m3/s", "0.25 m3/s", "0.5 m3/s"]},
        {"demand": "C", "cuts": ["0 m3/s", "250 L/s", "250 L/s"]},
        {"link": "lb", "cuts": ["0 m3/s", "0.5 m3/s", "1 m3/s"]}]}
    res = run([{"id": R, "type": "reservoir", "capacity": f"{10 * DAY} m3", "initial_storage": f"{4 * DAY} m3"},
               dem("A", "a", "1 m3/s"), dem("B", "b", "2 m3/s"), dem("C", "c", "0.2 m3/s")],
              [link("la", R, "A"), link("lb", R, "B", capacity="1.5 m3/s", capacity_basis="outlet", loss_fraction=0.2),
               link("lc", R, "C")], [ag], steps=2)
    np.testing.assert_allclose(res.agreement_state["mead:level"], [1, 2])
    np.testing.assert_allclose(q(res, "A"), [0.75, 0.5], atol=TOL)
    np.testing.assert_allclose(q(res, "C"), [0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [1.0, 0.5], atol=TOL)
    np.testing.assert_allclose(f(res, "lb"), [1.25, 0.625], atol=TOL)
    np.testing.assert_allclose(res.storage[:, 0] / DAY, [2.0, 0.875], atol=TOL)
    ex = res.explanations
    assert set(ex.instance) == {"A", "B", "C"}
    assert set(ex[ex.instance == "A"].reason) == {"drought_tier"}
    assert any("link lb cut at drought tier 2" in c for c in ex[ex.instance == "B"].constraint)
    assert_balanced(res)


def test_drought_tier_cut_on_inlet_basis_link_and_level_zero():
    # level 0 (storage 80 % above the 0.5 curve) applies its own cut 0.1: capacity 1 -> 0.9 drawn and delivered
    ag = {"type": "drought_tiers", "reservoir": R, "curves": [0.5],
          "targets": [{"link": "la", "cuts": ["0.1 m3/s", "0.6 m3/s"]}]}
    res = run([{"id": R, "type": "reservoir", "capacity": f"{10 * DAY} m3", "initial_storage": f"{8 * DAY} m3"},
               dem("A", "a", "5 m3/s")], [link("la", R, "A", capacity="1 m3/s")], [ag])
    assert q(res, "A")[0] == pytest.approx(0.9, abs=TOL)


def test_drought_tier_cuts_bad_input():
    res_node = {"id": R, "type": "reservoir", "capacity": "1 Mm3", "initial_storage": "0.2 Mm3"}
    nodes = [res_node, dem("A", "a", "1 m3/s")]

    def tiers(target):
        return [{"type": "drought_tiers", "reservoir": R, "curves": [0.5], "targets": [target]}]

    with pytest.raises(ConfigError, match=r"agreements\[0\]\.targets\[0\]\.cuts: link 'la' has no capacity to cut"):
        run(nodes, [link("la", R, "A")], tiers({"link": "la", "cuts": ["0 m3/s", "0.5 m3/s"]}))
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.targets\[0\]: .*exactly one of 'multipliers', 'limits' and 'cuts'"):
        run(nodes, [link("la", R, "A")], tiers({"demand": "A", "cuts": ["0 m3/s", "0.5 m3/s"], "multipliers": [1, 0.5]}))
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.targets\[0\]\.cuts: each target needs 2 values"):
        run(nodes, [link("la", R, "A")], tiers({"demand": "A", "cuts": ["0 m3/s"]}))
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.targets\[0\]\.cuts.*units"):
        run(nodes, [link("la", R, "A")], tiers({"demand": "A", "cuts": ["0", "0.5"]}))
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.targets\[0\]\.cuts.*must not be negative"):
        run(nodes, [link("la", R, "A")], tiers({"demand": "A", "cuts": ["0 m3/s", "-0.5 m3/s"]}))


# ----------------------------------------------------------------- 3. index-driven border obligation (§2.11)
def _index_net(inflows, lx_capacity=None, **ag_kw):
    ag = {"type": "border_obligation", "name": "treaty", "party": "b", "link": "lx", "priority": 1,
          "index_node": "river", "table": [[0, 0], [5, 1], [10, 1.5]], "table_units": "m3/s", **ag_kw}
    lx = link("lx", "river", "nb") if lx_capacity is None else link("lx", "river", "nb", capacity=lx_capacity)
    return ([intake("river", series(inflows)), dem("C", "c", "10 m3/s", 2), {"id": "nb", "type": "outlet"}],
            [lx, link("lc", "river", "C")], [ag])


def test_index_driven_border_obligation():
    # index = the river's inflow 3, 7, 12 -> O = 3/5 = 0.6, 1 + 2/5 · 0.5 = 1.2, clamped 1.5;
    # the obligation (priority 1) crosses the border before the junior demand C (priority 2) takes the rest
    nodes, links, ags = _index_net([3, 7, 12])
    res = run(nodes, links, ags, steps=3)
    np.testing.assert_allclose(f(res, "lx"), [0.6, 1.2, 1.5], atol=TOL)
    np.testing.assert_allclose(q(res, "C"), [2.4, 5.8, 10.0], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["treaty:obligation"] / DAY, [0.6, 1.2, 1.5], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["treaty:balance"] / DAY, [0, 0, 0], atol=TOL)
    assert_balanced(res)


def test_index_driven_border_obligation_cumulative_and_units():
    # table in L/s; lx carries at most 0.5 on day 1 (capacity series): O_1 = 0.6 -> delivered 0.5, owed 0.1;
    # day 2: claim 0.6 + 1.2 - 0.5 = 1.3 -> C gets 7 - 1.3 = 5.7; balance -0.1, 0
    nodes, links, ags = _index_net([3, 7], lx_capacity=series([0.5, 10]), cumulative=True,
                                   table=[[0, 0], [5000, 1000], [10000, 1500]], table_units="L/s")
    res = run(nodes, links, ags, steps=2)
    np.testing.assert_allclose(f(res, "lx"), [0.5, 1.3], atol=TOL)
    np.testing.assert_allclose(q(res, "C"), [2.5, 5.7], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["treaty:balance"] / DAY, [-0.1, 0.0], atol=TOL)
    ex = res.explanations
    assert set(ex.instance) == {"treaty:lx", "C"}
    assert "pipe_full" in set(ex[ex.instance == "treaty:lx"].reason)


@pytest.mark.parametrize("change,key,text", [
    ({"flow": "1 m3/s"}, "", "exactly one of 'flow' and 'index_node'"),
    ({"index_node": None, "table": None, "table_units": None}, "", "exactly one of 'flow' and 'index_node'"),
    ({"table": None}, ".table", "needs 'index_node', 'table' and 'table_units'"),
    ({"table_units": None}, ".table_units", "'table_units' missing"),
    ({"table_units": "Mm3"}, ".table_units", "flow unit"),
    ({"table": [[0, 0], [5, 1], [5, 1.5]]}, ".table", "strictly increasing"),
    ({"table": [[0, 0], [5, -1]]}, ".table", "not negative"),
    ({"table": [[0, 0, 1]]}, ".table", "pair"),
    ({"index_node": "nowhere"}, ".index_node", "unknown node 'nowhere'"),
    ({"index_node": "nb"}, ".index_node", "expected reservoir or intake or inflow"),
])
def test_index_driven_border_obligation_bad_input(change, key, text):
    nodes, links, ags = _index_net([3])
    ags[0] = {k: v for k, v in {**ags[0], **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=rf"agreements\[0\]{key}: .*{text}"):
        run(nodes, links, ags)


# ----------------------------------------------------------------- 4. contractual minimum (§2.4)
def _minimum(**kw):
    ag = {"type": "minimum_delivery", "name": "top", "party": "a", "demand": "A", "minimum": "0.3 m3/s"}
    ag.update(kw)
    return ag


def test_minimum_delivery_is_a_senior_claim_sharing_its_level():
    # A: demand 1 at priority 2 with a minimum 0.3 at priority 1; B: 0.9 at priority 1.
    # day 1, river 1: priority 1 claims 0.3 (A's minimum) + 0.9 (B) = 1.2 > 1 -> equal coverage
    #   c = 1 / 1.2 = 5/6: A 0.25, B 0.75; nothing left for A's remaining 0.7 at priority 2.
    # day 2, river 1.5: priority 1 full (1.2), A's priority-2 rest gets 0.3 -> A 0.6, B 0.9.
    # day 3, river 1, A asks only 0.2 < 0.3: claims 0.2 + 0.9 = 1.1 -> c = 1/1.1: A 0.2/1.1, B 0.9/1.1.
    res = run([intake("river", series([1.0, 1.5, 1.0])), dem("A", "a", series([1.0, 1.0, 0.2]), 2),
               dem("B", "b", "0.9 m3/s", 1)],
              [link("la", "river", "A"), link("lb", "river", "B")], [_minimum()], steps=3)
    np.testing.assert_allclose(q(res, "A"), [0.25, 0.6, 0.2 / 1.1], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [0.75, 0.9, 0.9 / 1.1], atol=TOL)
    cl = res.claims.set_index(["time", "claim"])
    t0, t1 = res.times[0], res.times[1]
    assert cl.loc[(t0, "A:top"), "priority"] == 1
    assert cl.loc[(t0, "A:top"), "amount"] / DAY == pytest.approx(0.3)
    assert cl.loc[(t0, "A:top"), "delivered"] / DAY == pytest.approx(0.25, abs=TOL)
    assert cl.loc[(t0, "A"), "amount"] / DAY == pytest.approx(0.7)        # the rest on A's default tranche
    assert cl.loc[(t1, "A"), "delivered"] / DAY == pytest.approx(0.3, abs=TOL)
    np.testing.assert_allclose(res.agreement_state["top:minimum_shortfall"] / DAY,
                               [0.05, 0.0, 0.2 - 0.2 / 1.1], atol=TOL)
    ex = res.explanations
    a0 = ex[(ex.instance == "A") & (ex.time == t0)]
    assert set(a0.claim) == {"A:top", "A"}
    assert "higher_priority" in set(a0[a0.claim == "A"].reason)
    assert_balanced(res)


def test_minimum_delivery_outside_its_validity_and_with_a_licence():
    # the minimum ends on 2024-01-02: day 2 A's whole request is back on its priority-2 tranche, B takes 0.9 first.
    # A licence on A of 0.5 day-volumes per year (annual) binds both of A's tranches together.
    lic = {"type": "licence", "name": "lic", "party": "a", "demands": ["A"], "volume": f"{0.5 * DAY} m3"}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "0.9 m3/s", 1)],
              [link("la", "river", "A"), link("lb", "river", "B")], [_minimum(end="2024-01-02"), lic], steps=3)
    # day 1: as above 0.25 / 0.75 (licence 0.5 not binding); day 2: B 0.9, A 0.1; day 3: licence has 0.15 left
    # but the river leaves A only 0.1
    np.testing.assert_allclose(q(res, "A"), [0.25, 0.1, 0.1], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [0.75, 0.9, 0.9], atol=TOL)


def test_minimum_delivery_conflicts_and_bad_input():
    nodes = [intake("river", "1 m3/s"), dem("A", "a", "1 m3/s", 2)]
    links = [link("la", "river", "A")]
    ent = {"type": "entitlement", "name": "ent", "party": "a", "demand": "A", "rate": "0.5 m3/s", "priority": 1}
    with pytest.raises(ConfigError, match=r"agreements\[1\]\.demand: demand 'A' is also covered by entitlement 'ent'"):
        run(nodes, links, [ent, _minimum()])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.demand: demand 'A' is also covered by entitlement 'ent'"):
        run(nodes, links, [_minimum(), ent])
    pr = {"type": "pro_rata", "priority": 1, "parties": [{"party": "a", "demand": "A", "entitlement": "1 m3/s"}]}
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.demand: .*covered by pro_rata"):
        run(nodes, links, [_minimum(), pr])
    with pytest.raises(ConfigError, match=r"agreements\[1\]\.demand: demand 'A' already has minimum_delivery 'top'"):
        run(nodes, links, [_minimum(), _minimum(name="again")])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.minimum.*units"):
        run(nodes, links, [_minimum(minimum="0.3")])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.demand.*belongs to 'a', not to party 'b'"):
        run(nodes, links, [_minimum(party="b")])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.priority"):
        run(nodes, links, [_minimum(priority=0)])


def test_seasonal_running_average_accrues_only_in_its_months():
    # r̄ = 1 m3/s, reset 01-01, usable in March only: on 1 March n = 1 step in season (not 60 calendar days),
    # so 1 of the 5 m3/s requested; 2 March: n = 2, U = 1 -> 1 again; February (outside the months): 0
    res = run([intake("river", "10 m3/s"), dem("A", "a", "5 m3/s")], [link("la", "river", "A")],
              [_ra(months=[3])], steps=3, start="2024-02-29")
    np.testing.assert_allclose(q(res, "A"), [0, 1, 1], atol=TOL)
    assert_balanced(res)
