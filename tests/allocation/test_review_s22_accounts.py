"""Storage accounts: a link, a party or a reservoir counted twice is a configuration error (session 22).

Before: a link listed in two accounts (or twice in one) was subtracted from each listing's balance after the step
but appeared once in each LP row; a party with two accounts lost one balance column in the outputs (both were
recorded as ``acc:a``); two ``storage_accounts`` agreements on one reservoir each split the whole storage.
"""
from __future__ import annotations

import pytest
from alloc_helpers import dem, link, run
from test_agreements import R, _reservoir

from hydro.errors import ConfigError


def _run(*agreements):
    return run([_reservoir(initial="0.5 Mm3", inflow="0.1 m3/s"), dem("A", "a", "0.1 m3/s"), dem("B", "b", "1 m3/s")],
               [link("la", R, "A"), link("lb", R, "B")], list(agreements), steps=2)


def _acc(accounts, name="acc"):
    return {"type": "storage_accounts", "name": name, "reservoir": R, "accounts": accounts}


@pytest.mark.parametrize("accounts, key, words", [
    ([{"party": "a", "links": ["la"], "inflow_share": 0.7}, {"party": "b", "links": ["la", "lb"], "inflow_share": 0.3}],
     "accounts[1].links[0]", "already in the account of 'a'"),
    ([{"party": "a", "links": ["la", "la"], "inflow_share": 0.7}, {"party": "b", "links": ["lb"], "inflow_share": 0.3}],
     "accounts[0].links[1]", "already in the account of 'a'"),
    ([{"party": "a", "links": ["la"], "inflow_share": 0.7}, {"party": "a", "links": ["lb"], "inflow_share": 0.3}],
     "accounts[1].party", "two accounts"),
])
def test_link_or_party_twice_refused(accounts, key, words):
    with pytest.raises(ConfigError) as err:
        _run(_acc(accounts))
    assert key in str(err.value) and words in str(err.value)


def test_two_account_agreements_on_one_reservoir_refused():
    accounts = [{"party": "a", "links": ["la"], "inflow_share": 0.7}, {"party": "b", "links": ["lb"], "inflow_share": 0.3}]
    with pytest.raises(ConfigError, match=r"agreements\[1\]\.reservoir.*already has storage accounts \('acc'\)"):
        _run(_acc(accounts), _acc(accounts, name="acc2"))


def test_one_account_per_link_still_runs():
    # the valid split: balances sum to the usable storage (no dead storage here) every step
    accounts = [{"party": "a", "links": ["la"], "inflow_share": 0.7}, {"party": "b", "links": ["lb"], "inflow_share": 0.3}]
    res = _run(_acc(accounts))
    total = res.agreement_state[["acc:a", "acc:b"]].sum(axis=1).to_numpy()
    assert total == pytest.approx(res.storage[:, 0], rel=1e-9)
