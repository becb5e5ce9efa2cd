"""Interactions of allocation agreements (review rev23_agree2): supply preferences of several parties, several
share agreements on one source. Tiny networks, flows in m3/s, daily steps; expected values derived by hand."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import ConfigError
from tests.allocation.alloc_helpers import assert_balanced, dem, f, intake, link, q, run

DAY = 86400.0


# ---------------------------------------------------------------- (1) supply preferences
_WELLS = {"id": "wells", "type": "groundwater", "sustainable_yield": "0.5 m3/s"}


def test_supply_preference_with_an_unlisted_source_link_is_refused():
    # A (0.8 m3/s) is fed by the river (lr, 1 m3/s) and the wells (lg, 0.5 m3/s); the party names only the wells:
    # "draw from π = 1 first" means lg = 0.5, lr = 0.3. The LP minimised Σ π f = 1·lg + 0·lr (lr is in no
    # order, so it costs nothing) and drew the river only: lg = 0, lr = 0.8 — the one preferred source not at all.
    nodes = [intake("river", "1 m3/s"), _WELLS, dem("A", "a", "0.8 m3/s")]
    links = [link("lr", "river", "A"), link("lg", "wells", "A")]
    with pytest.raises(ConfigError, match="not in 'order'"):
        run(nodes, links, [{"type": "supply_preference", "party": "a", "order": ["lg"]}])
    # written out in full the order is honoured: 0.5 from the wells first, the remaining 0.8 − 0.5 = 0.3 from the river
    res = run(nodes, links, [{"type": "supply_preference", "party": "a", "order": ["lg", "lr"]}])
    assert f(res, "lg")[0] == pytest.approx(0.5, abs=1e-9)
    assert f(res, "lr")[0] == pytest.approx(0.3, abs=1e-9)


def _shared_junction():
    # s1 and s2 (1 m3/s each) feed junction J (links l1, l2); J serves A and B (0.5 m3/s each) and drains to the sea
    nodes = [intake("s1", "1 m3/s"), intake("s2", "1 m3/s"), {"id": "J", "type": "junction"},
             {"id": "sea", "type": "outlet"}, dem("A", "a", "0.5 m3/s"), dem("B", "b", "0.5 m3/s")]
    links = [link("l1", "s1", "J"), link("l2", "s2", "J"), link("la", "J", "A"), link("lb", "J", "B"),
             link("lo", "J", "sea")]
    return nodes, links


def test_opposite_supply_preferences_on_shared_links_are_refused():
    # A prefers l1 then l2, B prefers l2 then l1, both valid on the same day: the ranks were combined by their
    # maximum (l1: max(1, 2) = 2, l2: max(2, 1) = 2), so both preferences vanished silently (the declaration-order
    # lean of the final tie-break then drew l1 = 1, l2 = 0: A's order, B's ignored).
    nodes, links = _shared_junction()
    with pytest.raises(ConfigError, match="can have one rank only"):
        run(nodes, links, [{"type": "supply_preference", "party": "a", "order": ["l1", "l2"]},
                           {"type": "supply_preference", "party": "b", "order": ["l2", "l1"]}], steps=2)
    # orders valid at different times are one rank per link at any time and still apply:
    # day 1 A's order, J needs 0.5 + 0.5 = 1 m3/s, all from l1 (s1 holds 1); day 2 B's order, all from l2
    res = run(nodes, links, [{"type": "supply_preference", "party": "a", "order": ["l1", "l2"], "end": "2024-01-02"},
                             {"type": "supply_preference", "party": "b", "order": ["l2", "l1"],
                              "start": "2024-01-02"}], steps=2)
    np.testing.assert_allclose(f(res, "l1"), [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(f(res, "l2"), [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(q(res, "A"), 0.5, atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), 0.5, atol=1e-9)
    assert_balanced(res)


# ---------------------------------------------------------------- (2) two share agreements on one source
def _three():
    # source s (1 m3/s) with offtakes la, lb, lc to demands A, B, C of 1 m3/s each at priority 2 (junior to the
    # share claims at priority 1, as docs/allocation.md §3 asks)
    nodes = [intake("s", "1 m3/s"), dem("A", "a", "1 m3/s", 2), dem("B", "b", "1 m3/s", 2), dem("C", "c", "1 m3/s", 2)]
    links = [link("la", "s", "A"), link("lb", "s", "B"), link("lc", "s", "C")]
    return nodes, links


def _share(name, items, **kw):
    return {"type": "share", "name": name, "source": "s", "unused": "redistribute", "priority": 1,
            "shares": [{"party": p, "link": lk, "fraction": a} for p, lk, a in items], **kw}


def test_two_share_agreements_on_one_source_are_refused():
    # s1 gives A and B half each of s, s2 gives C all of s: Σα over the source = 2, each agreement checks only its
    # own sum. Water-filled with weights α A_t (0.5, 0.5, 1.0): 0.5 T + 0.5 T + 1.0 T = 1 -> T = 0.5, so the 1 m3/s
    # went A 0.25, B 0.25, C 0.5 — neither agreement's split (A 0.5 or C 1.0) — and no error.
    nodes, links = _three()
    with pytest.raises(ConfigError, match="already has share agreement"):
        run(nodes, links, [_share("s1", [("a", "la", 0.5), ("b", "lb", 0.5)]), _share("s2", [("c", "lc", 1.0)])])
    # a renegotiated share (the old one ends when the new one starts) is not refused and each applies in its period:
    # day 1 (s1): the share claims take α A = 0.5 each through la and lb, the whole 1 m3/s, C (junior) gets 0;
    # day 2 (s2): C's claim takes 1.0 through lc, A and B get 0
    res = run(nodes, links, [_share("s1", [("a", "la", 0.5), ("b", "lb", 0.5)], end="2024-01-02"),
                             _share("s2", [("c", "lc", 1.0)], start="2024-01-02")], steps=2)
    np.testing.assert_allclose(q(res, "A"), [0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(q(res, "B"), [0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(q(res, "C"), [0.0, 1.0], atol=1e-9)
    assert_balanced(res)
