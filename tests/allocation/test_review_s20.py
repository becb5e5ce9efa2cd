"""Network checks at load: the sink check walks up the links once (linear in the network size) and must say
exactly what a brute-force reachability search says; long chains load fast and the errors still name the node."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alloc_helpers import make_net
from hydro.allocation import load_network
from hydro.errors import ConfigError


def _stranded(nodes: list[dict], links: list[dict]) -> set[str]:
    """Brute force: nodes that receive water but have no path to a node able to dispose of it (an outlet, a
    reservoir, a source, or a demand that does not return all its water)."""
    out: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for lk in links:
        out[lk["from"]].append(lk["to"])
    kind = {n["id"]: n["type"] for n in nodes}

    def disposes(nid: str) -> bool:
        if kind[nid] in ("outlet", "reservoir", "intake", "inflow", "groundwater"):
            return True
        if kind[nid] == "demand":
            ret = [lk for lk in links if lk["from"] == nid]
            return not ret or ret[0].get("return_fraction", 0.0) < 1.0
        return False

    def reaches(start: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            m = stack.pop()
            if disposes(m):
                return True
            if m not in seen:
                seen.add(m)
                stack.extend(out[m])
        return False

    receiving = {lk["to"] for lk in links}
    return {nid for nid in receiving if not reaches(nid)}


@st.composite
def _junction_graphs(draw):
    n_j = draw(st.integers(1, 7))
    ids = [f"j{i}" for i in range(n_j)]
    nodes = [{"id": "river", "type": "intake", "inflow": "1 m3/s"}, {"id": "sea", "type": "outlet"}]
    nodes += [{"id": j, "type": "junction"} for j in ids]
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids + ["sea"])), max_size=12, unique=True))
    links = [{"id": "in", "from": "river", "to": ids[0]}]
    links += [{"id": f"l{k}", "from": a, "to": b} for k, (a, b) in enumerate(pairs) if a != b]
    return nodes, links


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_junction_graphs())
def test_sink_check_agrees_with_brute_force_reachability(graph):
    nodes, links = graph
    stranded = _stranded(nodes, links)
    net = make_net(nodes, links, regions=("a",))
    if stranded:
        with pytest.raises(ConfigError, match="dead end|cycle without a sink") as err:
            load_network(net)
        named = str(err.value).split("node '")[1].split("'")[0]
        assert named in stranded
    else:
        load_network(net)


def test_return_flow_through_junction_chain_must_reach_a_drain():
    # demand returns into j0 -> j1 -> ... -> j39 -> demand B only: the return water cannot leave (B takes only its
    # claim); with j39 -> sea it can.
    chain = [{"id": f"j{i}", "type": "junction"} for i in range(40)]
    nodes = [{"id": "river", "type": "intake", "inflow": "1 m3/s"}, {"id": "sea", "type": "outlet"},
             {"id": "A", "type": "demand", "region": "a", "demand": "0.5 m3/s"},
             {"id": "B", "type": "demand", "region": "a", "demand": "0.1 m3/s"}] + chain
    links = [{"id": "ra", "from": "river", "to": "A"}, {"id": "rs", "from": "river", "to": "sea"},
             {"id": "ret", "from": "A", "to": "j0", "return_fraction": 0.5}]
    links += [{"id": f"c{i}", "from": f"j{i}", "to": f"j{i + 1}"} for i in range(39)]
    with pytest.raises(ConfigError, match="return flow of link 'ret'"):
        load_network(make_net(nodes, links + [{"id": "end", "from": "j39", "to": "B"}], regions=("a",)))
    load_network(make_net(nodes, links + [{"id": "end", "from": "j39", "to": "sea"}], regions=("a",)))


def test_long_chain_declared_upstream_first_and_its_dead_end():
    # a chain of 300 junctions declared upstream first (the order in which a repeated sweep needed one pass per
    # junction; the walk up the links visits each node once: setup time lives in benchmarks/allocation.py)
    n = 300
    nodes = [{"id": "river", "type": "intake", "inflow": "1 m3/s"}, {"id": "sea", "type": "outlet"}]
    nodes += [{"id": f"j{i}", "type": "junction"} for i in range(n)]
    links = [{"id": "in", "from": "river", "to": "j0"}]
    links += [{"id": f"c{i}", "from": f"j{i}", "to": f"j{i + 1}"} for i in range(n - 1)]
    net = load_network(make_net(nodes, links + [{"id": "end", "from": f"j{n - 1}", "to": "sea"}], regions=("a",)))
    assert len(net.nodes) == n + 2
    with pytest.raises(ConfigError, match="node 'j0' is on a dead end"):
        load_network(make_net(nodes, links, regions=("a",)))


# ----------------------------------------------------------------- quantities
def test_quantities_that_are_not_finite_numbers_are_refused():
    from hydro.allocation.units import QuantityError, parse_quantity

    with pytest.raises(QuantityError, match="not a finite quantity"):
        parse_quantity("1e999 Mm3", "volume")  # overflowed to inf
    with pytest.raises(QuantityError, match="must be a number"):
        parse_quantity({"value": True, "units": "L/s"}, "flow")  # was read as 1 L/s
    with pytest.raises(QuantityError, match="must be a number"):
        parse_quantity({"value": "5", "units": "L/s"}, "flow")
    assert parse_quantity({"value": 500, "units": "L/s"}, "flow") == pytest.approx(0.5, rel=1e-15)


def test_udunits_flow_spellings_of_the_exchange_profile():
    # the exchange validator accepts and converts 'l s-1' and 'ft3 s-1': the allocation reads them too
    from hydro.allocation.units import parse_quantity

    assert parse_quantity("250 l s-1", "flow") == pytest.approx(0.25, rel=1e-15)
    assert parse_quantity("100 ft3 s-1", "flow") == pytest.approx(2.8316846592, rel=1e-15)  # 1 ft = 0.3048 m
    assert parse_quantity("1 cfs", "flow") == pytest.approx(0.3048 ** 3, rel=1e-15)


# ----------------------------------------------------------------- outputs: all or nothing
def test_write_result_failing_part_way_leaves_the_earlier_files_untouched(tmp_path, monkeypatch):
    from alloc_helpers import dem, intake, link, run
    from hydro.allocation.outputs import write_result
    from hydro.errors import OutputError
    from hydro.io import open_netcdf

    nodes = [intake("river", "1 m3/s"), dem("A", "a", "0.4 m3/s")]
    first = run(nodes, [link("l", "river", "A")], steps=2)
    stem = tmp_path / "out" / "water"
    paths = write_result(first, stem)
    assert {p.name for p in paths} >= {"water_demand.nc", "water_link.nc", "water_metrics.csv", "water_balance.csv"}
    with open_netcdf(stem.parent / "water_demand.nc") as ds:
        assert ds.attrs["id"] == "water_demand"  # the staging name does not leak into the metadata
    before = {p.name: p.read_bytes() for p in stem.parent.iterdir()}

    second = run([intake("river", "1 m3/s"), dem("A", "a", "0.7 m3/s")], [link("l", "river", "A")], steps=2)
    real_to_csv = pd.DataFrame.to_csv

    def failing(self, path, *a, **k):
        if "balance" in str(path):
            raise OSError(28, "No space left on device")
        return real_to_csv(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OutputError, match="No space left"):
        write_result(second, stem)
    after = {p.name: p.read_bytes() for p in stem.parent.iterdir()}
    assert after == before  # no new NetCDF next to old tables, no staging files left
