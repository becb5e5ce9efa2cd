"""Review of the allocation agreements (storage accounts, shares, return-flow links): hand-derived answers.

Flows in m3/s, daily steps (1 m3/s for a day = 86 400 m3).
"""
from __future__ import annotations

import numpy as np
import pytest

from alloc_helpers import DAY, assert_balanced, dem, f, intake, link, q, run, series
from hydro.errors import ConfigError

TOL = 1e-6


def _res(id_="res", cap="1 Mm3", initial="0 m3", **kw):
    d = {"id": id_, "type": "reservoir", "capacity": cap, "initial_storage": initial}
    d.update(kw)
    return d


def _accounts(alpha_a, alpha_b):
    return {"type": "storage_accounts", "name": "acc", "reservoir": "res", "accounts": [
        {"party": "a", "links": ["la"], "inflow_share": alpha_a},
        {"party": "b", "links": ["lb"], "inflow_share": alpha_b}]}


# ----------------------------------------------------------------- storage accounts: same-step inflow by link
def test_accounts_of_a_pipeline_fed_reservoir_can_use_the_water_of_the_step():
    # off-stream storage, empty, filled by a pipeline of 1 m3/s; accounts 50/50, A and B want 0.5 each.
    # Same-step balance: each account gets 0.5 of the day's 1 m3/s and can deliver it the same day
    # (before: nothing on day 1 — the pipeline water counted only from the next step, a one-step lag).
    res = run([intake("river", "1 m3/s"), _res(), dem("A", "a", "0.5 m3/s"), dem("B", "b", "0.5 m3/s")],
              [link("fill", "river", "res"), link("la", "res", "A"), link("lb", "res", "B")],
              [_accounts(0.5, 0.5)], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.5, 0.5], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [0.5, 0.5], atol=TOL)
    np.testing.assert_allclose(res.agreement_state[["acc:a", "acc:b"]].to_numpy(), 0.0, atol=1e-3)
    assert_balanced(res)


def test_accounts_share_the_outlet_flow_of_a_lossy_inflow_link():
    # pipeline 1 m3/s with 20 % loss: 0.8 m3/s arrive, 0.4 per account. A (0.8 wanted) gets its 0.4,
    # B takes 0.1 and keeps 0.3 per day in its account.
    res = run([intake("river", "1 m3/s"), _res(), dem("A", "a", "0.8 m3/s"), dem("B", "b", "0.1 m3/s")],
              [link("fill", "river", "res", loss_fraction=0.2), link("la", "res", "A"), link("lb", "res", "B")],
              [_accounts(0.5, 0.5)], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.4, 0.4], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [0.1, 0.1], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["acc:b"] / DAY, [0.3, 0.6], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["acc:a"] / DAY, [0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(res.storage[:, 0] / DAY, [0.3, 0.6], atol=TOL)
    assert_balanced(res)


def test_accounts_below_a_spilling_reservoir_use_the_overflow_of_the_step():
    # a full upstream reservoir overflows 1 m3/s into the empty shared one (α = 0.75 / 0.25):
    # A (1 m3/s wanted) gets 0.75, B takes 0.1 and keeps 0.15 per day.
    res = run([_res("up", cap="100000 m3", initial="100000 m3", inflow="1 m3/s", overflow_to="res"), _res(),
               dem("A", "a", "1 m3/s"), dem("B", "b", "0.1 m3/s")],
              [link("la", "res", "A"), link("lb", "res", "B")], [_accounts(0.75, 0.25)], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.75, 0.75], atol=TOL)
    np.testing.assert_allclose(q(res, "B"), [0.1, 0.1], atol=TOL)
    np.testing.assert_allclose(res.agreement_state["acc:b"] / DAY, [0.15, 0.3], atol=TOL)
    np.testing.assert_allclose(res.agreement_state[["acc:a", "acc:b"]].sum(axis=1), res.storage[:, 1], rtol=1e-9)
    assert_balanced(res)


# ----------------------------------------------------------------- shares: recorded volumes outside start/end
def test_shortage_share_records_nothing_after_its_end():
    ag = {"type": "shortage_share", "name": "ss", "source": "river", "end": "2024-01-02", "parties": [
        {"party": "a", "link": "la", "entitlement": "1 m3/s", "shortage_fraction": 0.5},
        {"party": "b", "link": "lb", "entitlement": "1 m3/s", "shortage_fraction": 0.5}]}
    res = run([intake("river", "1 m3/s"), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [link("la", "river", "A"), link("lb", "river", "B")], [ag], steps=3)
    st = res.agreement_state / DAY
    # day 1: A = 1, shortage 2 - 1 = 1, allotments 0.5 each; afterwards the agreement does not exist
    np.testing.assert_allclose(st["ss:available"], [1.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(st["ss:shortage"], [1.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(st["ss:allotment:a"], [0.5, 0.0, 0.0], atol=TOL)


def test_share_records_no_available_water_after_its_end():
    ag = {"type": "share", "name": "sh", "source": "river", "end": "2024-01-02",
          "shares": [{"party": "a", "link": "la", "fraction": 0.3}, {"party": "b", "link": "lb", "fraction": 0.7}]}
    res = run([intake("river", series([1, 2, 3])), dem("A", "a", "1 m3/s"), dem("B", "b", "1 m3/s")],
              [link("la", "river", "A"), link("lb", "river", "B")], [ag], steps=3)
    np.testing.assert_allclose(res.agreement_state["sh:available"] / DAY, [1.0, 0.0, 0.0], atol=TOL)


# ----------------------------------------------------------------- agreements on lagged return-flow links
_RET_NODES = [intake("river", "1 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "1 m3/s", 1),
              {"id": "nb", "type": "outlet"}, _res("dam", initial="0.1 Mm3")]
_RET_LINKS = [link("la", "river", "A"), link("lb", "river", "B"), link("dl", "dam", "nb")]


@pytest.mark.parametrize("ag,key", [
    ({"type": "border_obligation", "name": "bo", "party": "b", "link": "ret", "flow": "0.2 m3/s"}, "link"),
    ({"type": "min_flow", "name": "mf", "link": "ret", "flow": "0.3 m3/s"}, "link"),
    ({"type": "hands_off_flow", "name": "hof", "node": "river", "threshold": "2 m3/s", "links": ["ret"]}, "links"),
    ({"type": "reciprocal", "name": "rc", "party": "a", "take_link": "ret", "return_link": "lb", "fraction": 0.1},
     "take_link"),
    ({"type": "drought_tiers", "name": "dt", "reservoir": "dam", "curves": [0.5],
      "targets": [{"link": "ret", "multipliers": [1.0, 0.0]}]}, "targets"),
])
def test_agreement_on_a_lagged_return_flow_link_is_a_config_error(ag, key):
    # before: an obligation of 0.2 on A's lagged return (0.5 m3/s flowing) was 'short' by 0.2 every step with the
    # reason 'link ret at capacity'; a hands-off closure or drought cut of the link did nothing
    with pytest.raises(ConfigError, match=rf"agreements\[0\]\.{key}.*lagged return"):
        run(_RET_NODES, _RET_LINKS + [link("ret", "A", "nb", return_fraction=0.5, lag=1)], [ag])


def test_obligation_on_a_same_step_return_link_is_still_met():
    # lag 0: the return is a column of the LP; the obligation of 0.2 on it is met (A's 1 m3/s returns 0.5)
    ag = {"type": "border_obligation", "name": "bo", "party": "b", "link": "ret", "flow": "0.2 m3/s"}
    res = run([intake("river", "2 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "1 m3/s", 1),
               {"id": "nb", "type": "outlet"}],
              [link("la", "river", "A"), link("lb", "river", "B"), link("ret", "A", "nb", return_fraction=0.5)], [ag])
    assert f(res, "ret")[0] == pytest.approx(0.5, abs=TOL)
    assert not len(res.explanations)


# ----------------------------------------------------------------- share 'redistribute' through a junction
def _redistribute(offtake_to_sea: bool, loss: float = 0.0):
    ag = {"type": "share", "name": "sh", "source": "river", "unused": "redistribute", "priority": 1,
          "shares": [{"party": "a", "link": "la", "fraction": 0.5}, {"party": "b", "link": "lb", "fraction": 0.5}]}
    nodes = [intake("river", "1 m3/s"), {"id": "j", "type": "junction"}, dem("A", "a", "0.1 m3/s", 2),
             dem("B", "b", "1 m3/s", 2)]
    la = link("la", "river", "j")
    if loss:
        la["loss_fraction"] = loss
    links = [la, link("ja", "j", "A"), link("lb", "river", "B")]
    if offtake_to_sea:
        nodes.append({"id": "sea", "type": "outlet"})
        links.append(link("js", "j", "sea"))
    else:
        nodes.append(_res("store", cap="1 Mm3"))
        links.append(link("jr", "j", "store"))
    return run(nodes, links, [ag])


def test_redistributed_share_is_not_sent_to_the_sea_through_a_junction():
    # two 50 % shares of 1 m3/s; A's offtake feeds a junction with A (0.1 m3/s) and the sea: A's unused 0.4 m3/s goes
    # to B (wants 1), nothing is pushed through to the sea (before: B 0.5, 0.4 m3/s to the sea)
    res = _redistribute(True)
    assert_balanced(res)
    assert q(res, "A")[0] == pytest.approx(0.1, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.9, abs=TOL)
    assert f(res, "js")[0] == pytest.approx(0.0, abs=TOL)
    # with a 20 % loss on the offtake A still gets its 0.1 (0.125 drawn), B the rest
    res = _redistribute(True, loss=0.2)
    assert q(res, "A")[0] == pytest.approx(0.1, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.875, abs=TOL)


def test_redistributed_share_into_storage_counts_as_use():
    # the junction can fill a reservoir: storing is a use, the share is not capped (A's offtake takes its 0.5)
    res = _redistribute(False)
    assert_balanced(res)
    assert f(res, "la")[0] == pytest.approx(0.5, abs=TOL)
    assert q(res, "B")[0] == pytest.approx(0.5, abs=TOL)
