"""Shortage shares, banking of unused entitlement and review-period entitlements: tiny networks with
hand-derived answers (m3/s, daily steps; 1 m3/s for one day = 86 400 m3)."""
from __future__ import annotations

import numpy as np
import pytest
from alloc_helpers import DAY, assert_balanced, dem, intake, link, q, run, series

from hydro.errors import ConfigError


def _shortage_net(inflows, **ag_kw):
    ag = {"type": "shortage_share", "name": "colorado", "source": "river", "parties": [
        {"party": "a", "link": "la", "entitlement": "6 m3/s", "shortage_fraction": 0.25},
        {"party": "b", "link": "lb", "entitlement": "4 m3/s", "shortage_fraction": 0.75}], **ag_kw}
    return ([intake("river", series(inflows)), {"id": "sea", "type": "outlet"},
             dem("A", "a", "10 m3/s"), dem("B", "b", "10 m3/s")],
            [link("la", "river", "A"), link("lb", "river", "B"), link("out", "river", "sea")], [ag])


def test_shortage_share_splits_the_declared_shortage():
    # ΣE = 10. Inflow 8: shortage 2 -> A 6 − 0.25·2 = 5.5, B 4 − 0.75·2 = 2.5 (pro rata would give 4.8 / 3.2).
    # Inflow 12: no shortage -> 6 / 4, the other 2 lapse to the sea.
    # Inflow 3: shortage 7, B's share 5.25 > 4 -> B 0 and A bears the remaining 3 -> A 3.
    nodes, links, ags = _shortage_net([8, 12, 3])
    res = run(nodes, links, ags, steps=3)
    np.testing.assert_allclose(q(res, "A"), [5.5, 6.0, 3.0], atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), [2.5, 4.0, 0.0], atol=1e-9)
    st = res.agreement_state
    np.testing.assert_allclose(st["colorado:shortage"] / DAY, [2, 0, 7], atol=1e-9)
    np.testing.assert_allclose(st["colorado:allotment:b"] / DAY, [2.5, 4, 0], atol=1e-9)
    assert_balanced(res)
    # every shortfall is explained by the agreement (the river had water left on step 1)
    ex = res.explanations
    assert set(ex.instance) == {"A", "B"}
    for (_, inst), grp in ex.groupby(["time", "instance"]):
        assert "agreement_cap" in set(grp.reason), (inst, grp)
    assert any("shortage share" in c for c in ex.constraint)


def test_shortage_share_fractions_must_sum_to_one():
    nodes, links, ags = _shortage_net([8])
    ags[0]["parties"][1]["shortage_fraction"] = 0.5
    with pytest.raises(ConfigError, match=r"agreements\[0\].*shortage fractions must sum to 1"):
        run(nodes, links, ags)
    nodes, links, ags = _shortage_net([8])
    ags[0]["parties"][0]["entitlement"] = "6"
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.parties\[0\]\.entitlement.*units"):
        run(nodes, links, ags)


def _bank(**kw):
    ag = {"type": "banking", "name": "bank", "party": "a", "demand": "A", "rate": "1 m3/s", "priority": 1,
          "max_balance": "1 Mm3"}
    ag.update(kw)
    return ag


def test_banking_credits_unused_entitlement_and_withdraws_them():
    # E = 1, γ = 0.5, withdrawals at most 0.5 m3/s; plenty of water.
    # day 1: D 0.4 -> x 0.4, unused 0.6 -> bank 0.3 day·m3/s
    # day 2: D 1.0 -> claim min(1, 1 + 0.3) = 1, nothing unused, nothing withdrawn -> bank 0.3
    # day 3: D 2.0 -> claim 1 + min(0.3, 0.5) = 1.3 -> bank 0
    # day 4: D 2.0 -> claim 1 (bank empty; no surplus claim -> 'agreement_cap')
    res = run([intake("river", "10 m3/s"), dem("A", "a", series([0.4, 1.0, 2.0, 2.0]))],
              [link("la", "river", "A")], [_bank(deposit_fraction=0.5, max_withdrawal="0.5 m3/s")], steps=4)
    np.testing.assert_allclose(q(res, "A"), [0.4, 1.0, 1.3, 1.0], atol=1e-9)
    np.testing.assert_allclose(res.agreement_state["bank:bank_balance"] / DAY, [0.3, 0.3, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(res.agreement_state["bank:bank_withdrawal"] / DAY, [0, 0, 0.3, 0], atol=1e-9)
    ex = res.explanations
    assert set(ex.time) == set(res.times[2:])
    assert set(ex.reason) == {"agreement_cap"}
    # the balance is capped at max_balance
    res = run([intake("river", "10 m3/s"), dem("A", "a", series([0.4, 2.0]))],
              [link("la", "river", "A")], [_bank(max_balance=f"{0.2 * DAY} m3")], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.4, 1.2], atol=1e-9)


@pytest.mark.parametrize("credit,expect", [("unused", [0.5, 1.5]), ("unrequested", [0.5, 1.0])])
def test_banking_credit_basis(credit, expect):
    # day 1 the river gives only 0.5 of the 1.0 requested: with 'unused' the 0.5 not delivered is banked,
    # with 'unrequested' nothing is (the party asked for its whole entitlement: a shortage, not a saving).
    res = run([intake("river", series([0.5, 3.0])), dem("A", "a", series([1.0, 2.0]))],
              [link("la", "river", "A")], [_bank(credit=credit)], steps=2)
    np.testing.assert_allclose(q(res, "A"), expect, atol=1e-9)
    ex = res.explanations
    assert set(ex[ex.time == res.times[0]].reason) == {"source_empty"}


def test_banking_bad_input():
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.max_balance.*units"):
        run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")],
            [_bank(max_balance="1000")])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.initial_balance.*above max_balance"):
        run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")],
            [_bank(max_balance="10 m3", initial_balance="20 m3")])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.credit"):
        run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")],
            [_bank(credit="everything")])


def test_period_entitlement_monthly_review():
    # A is entitled to 1.5 day·m3/s (129 600 m3) per calendar month at priority 1, the rest of its
    # demand at priority 3; B (priority 2) competes for a river of 1.5 m3/s.
    # Jan 30: A 1 (p1), B 0.5.  Jan 31: A's entitlement has 0.5 left -> A 0.5, B 1, A's surplus 0.
    # Feb 1: review, new volume -> A 1, B 0.5.  Feb 2: A 0.5, B 1.
    ag = {"type": "period_entitlement", "name": "pe", "party": "a", "demand": "A", "volume": "129600 m3",
          "period": "month", "priority": 1, "surplus_priority": 3}
    res = run([intake("river", "1.5 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "1 m3/s", 2)],
              [link("la", "river", "A"), link("lb", "river", "B")], [ag], steps=4, start="2024-01-30")
    np.testing.assert_allclose(q(res, "A"), [1.0, 0.5, 1.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), [0.5, 1.0, 0.5, 1.0], atol=1e-9)
    st = res.agreement_state
    np.testing.assert_allclose(st["pe:period_used"] / DAY, [1.0, 1.5, 1.0, 1.5], atol=1e-9)
    assert st["pe:period_delivered"].iloc[2] == pytest.approx(1.5 * DAY)
    assert st["pe:period_balance"].iloc[2] == pytest.approx(0.0, abs=1e-6)
    ex = res.explanations
    short_a = ex[ex.instance == "A"]
    assert set(short_a.time) == {res.times[1], res.times[3]}
    assert "higher_priority" in set(short_a.reason)      # B (priority 2) before A's surplus (priority 3)
    assert_balanced(res)


def test_period_entitlement_carry_over_and_even_spread():
    # front: 2 day·m3/s per month; A uses 0.5 + 0.5 in January -> unused 1.0 -> carry min(0.4, 0.5·1.0) = 0.4
    # -> February 1 claims min(3, 2 + 0.4) = 2.4 (no surplus claim: the rest is 'agreement_cap').
    ag = {"type": "period_entitlement", "name": "pe", "party": "a", "demand": "A", "volume": f"{2 * DAY} m3",
          "priority": 1, "carry_over_fraction": 0.5, "carry_over_max": f"{0.4 * DAY} m3"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", series([0.5, 0.5, 3.0]))], [link("la", "river", "A")],
              [ag], steps=3, start="2024-01-30")
    np.testing.assert_allclose(q(res, "A"), [0.5, 0.5, 2.4], atol=1e-9)
    st = res.agreement_state
    assert st["pe:carry_over"].iloc[2] == pytest.approx(0.4 * DAY)
    assert st["pe:period_balance"].iloc[2] == pytest.approx(-1.0 * DAY)
    assert set(res.explanations.reason) == {"agreement_cap"}
    # even: Jan 30 has 2 steps left in January -> 1 per day; February 2024 has 29 days -> 2/29 per day
    ag = {"type": "period_entitlement", "name": "pe", "party": "a", "demand": "A", "volume": f"{2 * DAY} m3",
          "priority": 1, "spread": "even"}
    res = run([intake("river", "5 m3/s"), dem("A", "a", "3 m3/s")], [link("la", "river", "A")], [ag], steps=3,
              start="2024-01-30")
    np.testing.assert_allclose(q(res, "A"), [1.0, 1.0, 2 / 29], rtol=1e-9)


def test_period_entitlement_quarter_and_year_periods():
    import pandas as pd

    from hydro.allocation.agreements import PeriodEntitlement

    pq = PeriodEntitlement(type="period_entitlement", name="x", party="a", demand="A", volume="1 m3",
                           period="quarter", priority=1)
    assert pq.period_start(pd.Timestamp("2024-05-17")) == pd.Timestamp("2024-04-01")
    py = PeriodEntitlement(type="period_entitlement", name="x", party="a", demand="A", volume="1 m3",
                           period="year", start_month=7, priority=1)
    assert py.period_start(pd.Timestamp("2024-05-17")) == pd.Timestamp("2023-07-01")
    assert py.period_start(pd.Timestamp("2024-07-01")) == pd.Timestamp("2024-07-01")


def test_period_entitlement_bad_input():
    base = {"type": "period_entitlement", "party": "a", "demand": "A", "volume": "1 Mm3", "priority": 1}
    nodes, links = [intake("river", "1 m3/s"), dem("A", "a", "1 m3/s")], [link("la", "river", "A")]
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.period"):
        run(nodes, links, [{**base, "period": "fortnight"}])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.volume.*units"):
        run(nodes, links, [{**base, "volume": "1000"}])
    with pytest.raises(ConfigError, match=r"agreements\[0\].*party 'zz' that does not exist"):
        run(nodes, links, [{**base, "party": "zz"}])
    with pytest.raises(ConfigError, match=r"agreements\[0\]\.vollume"):
        run(nodes, links, [{**base, "vollume": "1 m3"}])


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(E=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=5), raw=st.lists(st.floats(0.01, 1.0), min_size=5, max_size=5),
       A=st.floats(0.0, 60.0))
def test_shortage_share_allotments_property(E, raw, A):
    """Allotments never exceed entitlements, are never negative and sum to min(A, ΣE); a party's cut
    is σ_i·Shortage unless it lost everything."""
    from hydro.allocation.agreements import ShortageShare

    n = len(E)
    sig = np.array(raw[:n]) / sum(raw[:n])
    ag = ShortageShare.model_validate({"type": "shortage_share", "name": "s", "source": "r", "parties": [
        {"party": f"p{i}", "link": f"l{i}", "entitlement": f"{e} m3/s", "shortage_fraction": float(s)}
        for i, (e, s) in enumerate(zip(E, sig))]})
    ag._E, ag._sigma = np.array(E, float), np.array([p.shortage_fraction for p in ag.parties_])
    a, shortage = ag.allotments(A)
    assert shortage == pytest.approx(max(0.0, sum(E) - A))
    assert (a >= 0).all() and (a <= np.array(E) + 1e-12).all()
    assert a.sum() == pytest.approx(min(A, sum(E)), abs=1e-9)
    if all(e >= s * shortage for e, s in zip(E, ag._sigma)):
        np.testing.assert_allclose(a, np.array(E) - ag._sigma * shortage, atol=1e-9)


def test_every_shortfall_is_explained_with_the_new_agreements():
    # shortage shares on a river, a banked entitlement and a monthly period entitlement on a reservoir,
    # through a wet-to-dry month boundary: every short demand in every step has at least one reason
    ags = [{"type": "shortage_share", "name": "ss", "source": "river", "parties": [
               {"party": "a", "link": "ra", "entitlement": "2 m3/s", "shortage_fraction": 0.3},
               {"party": "b", "link": "rb", "entitlement": "2 m3/s", "shortage_fraction": 0.7}]},
           {"type": "banking", "name": "bank", "party": "c", "demand": "C", "rate": "0.5 m3/s", "priority": 1,
            "max_balance": "0.2 Mm3", "surplus_priority": 3},
           {"type": "period_entitlement", "name": "pe", "party": "a", "demand": "A2", "volume": "0.1 Mm3",
            "priority": 1, "surplus_priority": 2}]
    inflow = [4, 3, 2, 1, 0.5, 0.2]
    res = run([intake("river", series(inflow)),
               {"id": "dam", "type": "reservoir", "capacity": "0.5 Mm3", "initial_storage": "0.3 Mm3",
                "inflow": series([0.3] * 6)},
               dem("A", "a", "1.5 m3/s"), dem("B", "b", "1.5 m3/s"), dem("C", "c", series([0.2, 0.2, 1, 1, 1, 1])),
               dem("A2", "a", "1 m3/s", 2)],
              [link("ra", "river", "A"), link("rb", "river", "B"), link("dc", "dam", "C"), link("da", "dam", "A2")],
              ags, steps=6, start="2024-01-29")
    assert_balanced(res)
    short = res.shortfall > 1e-6 * np.maximum(res.requested, 1.0)
    ex = res.explanations
    assert short.sum() >= 6
    for t, d in zip(*np.nonzero(short)):
        rows = ex[(ex.time == res.times[t]) & (ex.instance == res.demand_ids[d])]
        assert len(rows) and not (rows.reason == "not_claimed").all(), (res.times[t], res.demand_ids[d])
        assert rows.shortfall.iloc[0] == pytest.approx(res.shortfall[t, d] / DAY)


def test_account_file_separates_balances_from_volumes_within_the_step(tmp_path):
    """Balances (bank balance) are `time: point`; the declared shortage, allotments and bank deposits/withdrawals are
    volumes within the step (`time: sum`): each lands in its own variable, NaN in the other."""
    import xarray as xr

    nodes, links, ags = _shortage_net([8, 12, 3])
    nodes.append(dem("C", "c", series([0.4, 1.0, 2.0])))
    links.append(link("lc", "river", "C"))
    ags.append(_bank(party="c", demand="C", deposit_fraction=0.5, max_withdrawal="0.5 m3/s"))
    res = run(nodes, links, ags, steps=3)
    res.write(tmp_path / "r")
    with xr.open_dataset(tmp_path / "r_account.nc") as acc:
        ids = [x.decode() if isinstance(x, bytes) else str(x) for x in acc["account_id"].values]
        kind = dict(zip(ids, [x.decode() if isinstance(x, bytes) else str(x) for x in acc["quantity"].values]))
        assert acc["account_balance"].attrs["cell_methods"] == "time: point"
        assert acc["account_step_volume"].attrs["cell_methods"] == "time: sum"
        want_step = {"colorado:available", "colorado:shortage", "colorado:allotment:a", "colorado:allotment:b",
                     "bank:bank_deposit", "bank:bank_withdrawal"}
        assert {i for i, k in kind.items() if k == "volume_in_step"} == want_step
        assert {i for i, k in kind.items() if k == "balance"} == {"bank:bank_balance"}
        for j, i in enumerate(ids):
            bal = acc["account_balance"].isel(account=j).values
            vol = acc["account_step_volume"].isel(account=j).values
            want = res.agreement_state[i].to_numpy()
            if i in want_step:
                assert np.isnan(bal).all()
                np.testing.assert_allclose(vol, want, atol=1e-6)
            else:
                assert np.isnan(vol).all()
                np.testing.assert_allclose(bal, want, atol=1e-6)
        np.testing.assert_allclose(acc["account_step_volume"].isel(account=ids.index("colorado:shortage")) / DAY,
                                   [2, 0, 7], atol=1e-9)
