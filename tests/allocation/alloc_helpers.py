"""Fixtures and builders for tiny allocation networks (flows in m3/s, daily steps)."""
from __future__ import annotations

import numpy as np


from hydro.allocation import allocate, load_network

DAY = 86400.0


def make_net(nodes, links, agreements=(), regions=("a", "b", "c"), steps=1, start="2024-01-01", timestep="1D"):
    """A network dict with the given nodes/links/agreements."""
    return {
        "network": {"name": "tiny", "start": start, "steps": steps, "timestep": timestep},
        "regions": [{"id": r} for r in regions],
        "nodes": list(nodes),
        "links": list(links),
        "agreements": list(agreements),
    }


def run(nodes, links, agreements=(), **kw):
    """Allocate a tiny network and return the result."""
    return allocate(load_network(make_net(nodes, links, agreements, **kw)))


def q(res, demand):
    """Delivered flow of one demand [m3/s] per step."""
    return res.delivered[:, res.demand_ids.index(demand)] / res.dt


def f(res, link):
    """Inlet flow of one link [m3/s] per step."""
    return res.flow[:, res.link_ids.index(link)] / res.dt


def dem(id_, region, demand, priority=1, **kw):
    d = {"id": id_, "type": "demand", "region": region, "demand": demand, "priority": priority}
    d.update(kw)
    return d


def intake(id_, inflow, **kw):
    d = {"id": id_, "type": "intake", "inflow": inflow}
    d.update(kw)
    return d


def link(id_, a, b, **kw):
    d = {"id": id_, "from": a, "to": b}
    d.update(kw)
    return d


def series(values, units="m3/s"):
    return {"values": list(values), "units": units}


def assert_balanced(res, rtol=1e-9):
    """Water is conserved every step: in = out + ΔS + losses (+ transit)."""
    scale = max(1.0, float(np.abs(res.flow).max(initial=0.0)), float(np.abs(res.storage).max(initial=0.0)))
    assert np.abs(res.mass_residual).max() <= rtol * scale + 1e-6, res.mass_residual


