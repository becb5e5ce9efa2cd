"""Where delivered water came from: deliveries per demand (and region) split by source.

Sources are the nodes where water enters the system: reservoirs, river intakes, groundwater and inflow nodes.
Water leaving a source carries that source's name; junctions mix their inflows in proportion to the water that
arrives (after conveyance losses) and pass the mixture on; a demand's delivery has the composition of the water
arriving at it. A reservoir is the source of what it releases, whatever filled it (a transfer into a reservoir
becomes that reservoir's water: the utilities account for it that way). The split of each step adds up to the
delivery exactly.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import ConfigError

__all__ = ["SOURCE_TYPES", "delivery_by_source", "delivery_by_source_frame"]

#: node types whose outflow is attributed to the node itself
SOURCE_TYPES = ("reservoir", "intake", "groundwater", "inflow")


def _order(nodes: list[str], incoming: dict[str, list[int]], link_from: list[str], is_source: dict[str, bool]) -> list[str]:
    """Non-source nodes in an order where every upstream non-source node comes first."""
    remaining = [n for n in nodes if not is_source[n]]
    done: set[str] = set()
    order: list[str] = []
    while remaining:
        progress = False
        for n in list(remaining):
            ups = [link_from[k] for k in incoming.get(n, [])]
            if all(is_source[u] or u in done for u in ups):
                order.append(n)
                done.add(n)
                remaining.remove(n)
                progress = True
        if not progress:
            raise ConfigError(f"source tracing: a loop of links without a source among {sorted(remaining)}")
    return order


def _loop_compositions(nodes: list[str], is_source: dict[str, bool], sources: list[str], sidx: dict[str, int],
                       incoming: dict[str, list[int]], link_from: list[str], arriving: np.ndarray, lag: dict[int, int],
                       overflow: dict[str, list[tuple[str, np.ndarray]]],
                       comp: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compositions of the non-source nodes when links form loops: per step, the mixing balances
    ``total_n c_n = Σ_k q_k c_from(k) + source water`` of all nodes receiving water are one linear system (lagged
    links bring the composition their water left with, ``lag`` steps earlier, known by then)."""
    inner = [n for n in nodes if not is_source[n]]
    ix = {n: i for i, n in enumerate(inner)}
    nt, ns, m = arriving.shape[0], len(sources), len(inner)
    out = np.zeros((m, nt, ns))
    for t in range(nt):
        total = np.zeros(m)
        W = np.zeros((m, m))
        B = np.zeros((m, ns))
        for n in inner:
            i = ix[n]
            for k in incoming.get(n, []):
                up = link_from[k]
                if k in lag:
                    if t < lag[k]:
                        continue
                    qk = max(float(arriving[t - lag[k], k]), 0.0)
                    c = comp[up][t - lag[k]] if is_source[up] else out[ix[up], t - lag[k]]
                    B[i] += qk * c
                else:
                    qk = max(float(arriving[t, k]), 0.0)
                    if is_source[up]:
                        B[i, sidx[up]] += qk
                    else:
                        W[i, ix[up]] += qk
                total[i] += qk
            for src, q in overflow.get(n, []):
                total[i] += q[t]
                B[i, sidx[src]] += q[t]
        a = np.flatnonzero(total > 0)
        if a.size:
            A = np.diag(total[a]) - W[np.ix_(a, a)]
            try:
                out[a, t] = np.linalg.solve(A, B[a])
            except np.linalg.LinAlgError:
                out[a, t] = np.linalg.lstsq(A, B[a], rcond=None)[0]
    return {n: out[ix[n]] for n in inner}


def delivery_by_source(res: Any) -> xr.DataArray:
    """Delivered flow per demand split by source [m3 s-1], dims (demand, source, time).

    Parameters
    ----------
    res : hydro.allocation.AllocationResult

    Returns
    -------
    xarray.DataArray
        ``demand``/``source`` coordinates (ids), ``time`` = start of each step; summing over ``source``
        gives the delivered flow of each demand.
    """
    net = res.network
    nodes = list(net.nodes)
    is_source = {n: net.nodes[n].type in SOURCE_TYPES for n in nodes}
    sources = [n for n in nodes if is_source[n]]
    sidx = {s: i for i, s in enumerate(sources)}
    link_ids = list(res.link_ids)
    link_from = [net.links[lk].from_ for lk in link_ids]
    link_to = [net.links[lk].to for lk in link_ids]
    incoming: dict[str, list[int]] = {}
    for k, to in enumerate(link_to):
        incoming.setdefault(to, []).append(k)
    try:
        order: list[str] | None = _order(nodes, incoming, link_from, is_source)
    except ConfigError:
        order = None  # a loop (e.g. a demand's return flow back to the junction that feeds it): solved step by step
    arriving = np.asarray(res.flow, np.float64) - np.asarray(res.loss, np.float64)  # (time, link) m3/step
    nt = arriving.shape[0]
    # a lagged return link's flow leaves its demand now and arrives ``lag`` steps later, with the
    # composition the demand's water had when it left
    lag = {k: int(net.links[lk].lag) for k, lk in enumerate(link_ids)
           if net.links[lk].return_fraction is not None and int(net.links[lk].lag) > 0}

    def _shift(a: np.ndarray, n: int) -> np.ndarray:
        out = np.zeros_like(a)
        if n < a.shape[0]:
            out[n:] = a[:a.shape[0] - n]
        return out

    # uncontrolled overflow into non-source nodes (reservoir spill, unused source water with ``overflow_to``)
    overflow: dict[str, list[tuple[str, np.ndarray]]] = {}
    for ids, vol in ((list(res.reservoir_ids), getattr(res, "spill", None)), (list(getattr(res, "source_ids", [])),
                                                                              getattr(res, "unused", None))):
        if vol is None:
            continue
        vol = np.asarray(vol, np.float64)
        for j, nid in enumerate(ids):
            tgt = getattr(net.nodes[nid], "overflow_to", None)
            if tgt is not None and not is_source[tgt]:
                overflow.setdefault(tgt, []).append((nid, np.clip(vol[:, j], 0.0, None)))
    comp: dict[str, np.ndarray] = {}
    for s in sources:
        c = np.zeros((nt, len(sources)))
        c[:, sidx[s]] = 1.0
        comp[s] = c
    if order is None:
        comp.update(_loop_compositions(nodes, is_source, sources, sidx, incoming, link_from, arriving, lag, overflow, comp))
    for n in order or []:
        total = np.zeros(nt)
        mix = np.zeros((nt, len(sources)))
        for k in incoming.get(n, []):
            q = np.clip(arriving[:, k], 0.0, None)
            c = comp[link_from[k]]
            if k in lag:
                q, c = _shift(q, lag[k]), _shift(c, lag[k])
            total += q
            mix += q[:, None] * c
        for src, q in overflow.get(n, []):
            total += q
            mix += q[:, None] * comp[src]
        with np.errstate(invalid="ignore", divide="ignore"):
            comp[n] = np.where(total[:, None] > 0, mix / np.where(total > 0, total, 1.0)[:, None], 0.0)
    delivered = np.asarray(res.delivered, np.float64) / float(res.dt)  # (time, demand) m3 s-1
    out = np.zeros((len(res.demand_ids), len(sources), nt))
    for d, did in enumerate(res.demand_ids):
        out[d] = (comp[did] * delivered[:, d][:, None]).T
    return xr.DataArray(out, dims=("demand", "source", "time"),
                        coords={"demand": list(res.demand_ids), "source": sources, "time": pd.DatetimeIndex(res.times)},
                        name="delivery_by_source",
                        attrs={"units": "m3 s-1", "long_name": "delivered water by source (proportional mixing)"})


def delivery_by_source_frame(res: Any) -> pd.DataFrame:
    """Long table: time, region, demand, source, delivered [m3 s-1] (rows with a delivery only)."""
    da = delivery_by_source(res)
    region_of = {d: res.network.nodes[d].region for d in res.demand_ids}
    df = da.to_dataframe().reset_index()
    df = df[df["delivery_by_source"] > 0].rename(columns={"delivery_by_source": "delivered_m3s"})
    df.insert(1, "region", df["demand"].map(region_of))
    return df[["time", "region", "demand", "source", "delivered_m3s"]].reset_index(drop=True)
