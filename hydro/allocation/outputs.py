"""CF DSG timeSeries datasets of an allocation run, written with the shared writer.

One instance set per file (``netcdf.md`` §8): demands, links, reservoirs, agreement accounts,
regions. Time is labelled at the **end** of each step with ``time_bnds``; flows are step means
[m3 s-1] (``cell_methods = "time: mean"``), storages and balances end-of-step values [m3].
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydro.errors import ConfigError, OutputError

__all__ = ["result_dataset", "write_result", "KINDS"]

KINDS = ("demand", "link", "reservoir", "account", "region")


def _pos(obj: Any, net: Any) -> tuple[float, float]:
    meta = net.spec.network
    lat = getattr(obj, "lat", None)
    lon = getattr(obj, "lon", None)
    if lat is None or lon is None:
        reg = getattr(obj, "region", None)
        if reg is not None and net.regions[reg].lat is not None:
            return float(net.regions[reg].lat), float(net.regions[reg].lon)
        return float(meta.lat), float(meta.lon)
    return float(lat), float(lon)


def _common(res: Any) -> dict[str, Any]:
    end = res.times + pd.Timedelta(seconds=res.dt)
    return dict(time=end, time_bounds=list(zip(res.times, end)))


def region_attr_name(region: Any) -> str:
    """The region id as it appears in the global attribute names ``metric_<region>_<metric>``: CF attribute names
    hold ASCII letters, digits and underscores only (a region "kutai-kartanegara" or "sépaku" failed the CF check), so
    every other character becomes ``_`` (ids that collide after this are refused when the network is loaded)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(region))


def _attrs(res: Any) -> dict[str, Any]:
    m = res.metrics
    out = {
        "hydro_network": res.network.name,
        "hydro_network_file": str(res.network.source),
        "hydro_mass_balance_max_abs_residual_m3": float(np.abs(res.mass_residual).max(initial=0.0)),
        "hydro_initial_storage_m3": float(np.sum(res.initial_storage)),
        "hydro_allocation_conventions": ("volumes per step, same-step mass balance; priority 0 = environmental "
                                         "flows, 1 = most senior; rules evaluated from start-of-step storage; link "
                                         "flow = inlet (gross) flow, loss = loss_fraction x inlet flow; spill = water "
                                         "above capacity after allocation"),
        "hydro_supply_metrics": json.dumps({r: {k: (float(v) if np.isfinite(v) else None) for k, v in row.items()}
                                            for r, row in m.iterrows()}),  # strict JSON: an undefined metric is null
    }
    for r, row in m.iterrows():
        # CF attribute names hold letters, digits and underscores only (a region "kutai-kartanegara" failed the
        # CF check); the exact region ids are in hydro_supply_metrics
        name = region_attr_name(r)
        for k in ("reliability_time", "reliability_volume", "vulnerability", "resilience"):
            out[f"metric_{name}_{k}"] = float(row[k])
    return out


def result_dataset(res: Any, kind: str) -> Any:
    """Build the DSG dataset of one instance set (see :meth:`AllocationResult.to_dataset`)."""
    from hydro.io.dsg import timeseries_dataset

    net = res.network
    dt = res.dt
    com = _common(res)
    if kind == "demand":
        if not res.demand_ids:
            return None
        nodes = [net.nodes[d] for d in res.demand_ids]
        pos = [_pos(n, net) for n in nodes]
        req = res.requested.T / dt
        dl = res.delivered.T / dt
        cov = np.divide(dl, req, out=np.ones_like(dl), where=req > 0)
        ds = timeseries_dataset(
            {"water_demand": req, "delivery": dl, "shortfall": res.shortfall.T / dt, "coverage": cov},
            ids=res.demand_ids, names=[n.name or n.id for n in nodes], lat=[p[0] for p in pos],
            lon=[p[1] for p in pos], instance_dim="demand",
            instance_variables={"region_id": [n.region for n in nodes], "sector": [n.sector for n in nodes],
                                "priority": [n.priority for n in nodes]},
            attrs={"region_id": {"long_name": "region (party) owning the demand"},
                   "sector": {"long_name": "water use sector"},
                   "priority": {"long_name": "priority of the default claim (1 = most senior)", "units": "1"}},
            **com)
    elif kind == "link":
        if not res.link_ids:
            return None
        links = [net.links[lid] for lid in res.link_ids]
        pos = []
        for lk in links:
            if lk.lat is not None and lk.lon is not None:
                pos.append((lk.lat, lk.lon))
            else:
                pos.append(_pos(net.nodes[lk.from_], net))
        ds = timeseries_dataset(
            {"link_flow": res.flow.T / dt, "conveyance_loss": res.loss.T / dt},
            ids=res.link_ids, names=[lk.name or lk.id for lk in links], lat=[p[0] for p in pos],
            lon=[p[1] for p in pos], instance_dim="link",
            instance_variables={"from_node": [lk.from_ for lk in links], "to_node": [lk.to for lk in links],
                                "source_region_id": [net.nodes[lk.from_].region or "" for lk in links],
                                "destination_region_id": [net.nodes[lk.to].region or "" for lk in links]},
            attrs={"link_flow": {"comment": "inlet (gross) flow; delivered = (1 - loss_fraction) x inlet flow"}},
            **com)
    elif kind == "reservoir":
        if not res.reservoir_ids:
            return None
        nodes = [net.nodes[r] for r in res.reservoir_ids]
        pos = [_pos(n, net) for n in nodes]
        tiers = np.zeros((len(nodes), len(res.times)))
        for ag in net.agreements:
            if ag.type == "drought_tiers":
                col = f"{ag.name}:level"
                i = res.reservoir_ids.index(ag.reservoir)
                tiers[i] = np.maximum(tiers[i], res.agreement_state[col].to_numpy())
        variables = {"reservoir_volume": res.storage.T, "reservoir_spill": res.spill.T / dt,
                     "reservoir_evaporation": res.evaporation.T / dt, "drought_tier": tiers}
        if any(n.area_table is not None and "level" in n.area_table for n in nodes):
            from hydro.allocation.units import to_si

            lev = np.full((len(nodes), len(res.times)), np.nan)
            for i, n in enumerate(nodes):
                tb = n.area_table
                if tb is not None and "level" in tb:
                    st = np.asarray(tb["storage"], float) * to_si(1.0, tb["storage_units"], "volume")
                    lev[i] = np.interp(res.storage[:, i], st, np.asarray(tb["level"], float))
            variables["reservoir_level"] = lev
        ds = timeseries_dataset(
            variables,
            ids=res.reservoir_ids, names=[n.name or n.id for n in nodes], lat=[p[0] for p in pos],
            lon=[p[1] for p in pos], instance_dim="reservoir",
            instance_variables={"initial_volume": [float(v) for v in res.initial_storage]},
            attrs={"initial_volume": {"long_name": "reservoir volume at the start of the run", "units": "m3"},
                   "reservoir_evaporation": {"comment": "net evaporation: evaporation minus rainfall on the water "
                                                        "surface; negative values are a net gain of water"},
                   # the tier in force during the step (from the start-of-step storage), not a value at its end
                   "drought_tier": {"cell_methods": "time: mean",
                                    "comment": "drought tier in force during the step (time_bnds), set from the "
                                               "start-of-step storage"}},
            **com)
    elif kind == "account":
        owner = _column_agreements(res.agreement_state.columns, net.agreements)
        tier_cols = {f"{a.name}:level" for a in net.agreements if a.type == "drought_tiers"}  # in the reservoir file
        cols = [c for c in res.agreement_state.columns if c not in tier_cols]
        if not cols:
            return None
        vals = res.agreement_state[cols].to_numpy(float).T
        step = np.array([owner[c].is_step_amount(c) for c in cols])
        meta = net.spec.network
        ds = timeseries_dataset(
            {"account_balance": np.where(step[:, None], np.nan, vals),
             "account_step_volume": np.where(step[:, None], vals, np.nan)},
            ids=cols, lat=[meta.lat] * len(cols), lon=[meta.lon] * len(cols),
            instance_dim="account",
            instance_variables={"agreement": [owner[c].name for c in cols],
                                "agreement_type": [owner[c].type for c in cols],
                                "quantity": ["volume_in_step" if s_ else "balance" for s_ in step]},
            attrs={"quantity": {"long_name": "which variable holds this account's values: balance (account_balance, "
                                             "end of step) or volume_in_step (account_step_volume, within the step)"}},
            **com)
    elif kind == "region":
        regs = list(net.regions)
        if not regs:
            return None
        pos = [_pos(net.regions[r], net) for r in regs]
        req = np.zeros((len(regs), len(res.times)))
        dl = np.zeros_like(req)
        for j, d in enumerate(res.demand_ids):
            i = regs.index(res.demand_region[j])
            req[i] += res.requested[:, j] / dt
            dl[i] += res.delivered[:, j] / dt
        metrics = res.metrics.reindex(regs)
        ds = timeseries_dataset(
            {"water_demand": req, "delivery": dl, "shortfall": np.maximum(req - dl, 0.0)},
            ids=regs, names=[net.regions[r].name or r for r in regs], lat=[p[0] for p in pos],
            lon=[p[1] for p in pos], instance_dim="region",
            instance_variables={k: metrics[k].to_numpy(float) for k in
                                ("reliability_time", "reliability_volume", "vulnerability", "resilience")},
            attrs={"reliability_time": {"long_name": "time-based reliability (fraction of steps without shortfall)", "units": "1"},
                   "reliability_volume": {"long_name": "volume-based reliability (delivered / requested)", "units": "1"},
                   "vulnerability": {"long_name": "mean relative shortfall in failure steps", "units": "1"},
                   "resilience": {"long_name": "probability of recovery after a failure step", "units": "1"}},
            **com)
    else:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
    ds.attrs.update(_attrs(res))
    return ds


def _column_agreements(columns: Any, agreements: list[Any]) -> dict[str, Any]:
    """The agreement that recorded each ``agreement_state`` column (``"<name>:<quantity>"``; the longest matching
    name wins, so names may contain ``:``)."""
    by_len = sorted(agreements, key=lambda a: -len(a.name))
    out = {}
    for c in columns:
        out[c] = next(a for a in by_len if c.startswith(f"{a.name}:"))
    return out


def _end_labelled(df: pd.DataFrame, dt: float) -> pd.DataFrame:
    """A per-step table labelled by step starts (as in memory: a ``time`` column, else the index) relabelled with
    ``time`` = the step end, as in the NetCDF files."""
    out = df.copy()
    shift = pd.Timedelta(seconds=float(dt))
    if "time" in out.columns:
        out["time"] = pd.to_datetime(out["time"]) + shift
    else:
        out.index = pd.Index(pd.DatetimeIndex(df.index) + shift, name="time")
    return out


def write_result(res: Any, path: str | Path, **attrs: Any) -> list[Path]:
    """Write every DSG file of a run plus the metrics and explanation tables.

    ``path`` is a stem (``outputs/balikpapan_water`` → ``outputs/balikpapan_water_demand.nc``, ...);
    a ``.nc`` suffix is dropped. Datasets are all built before anything is written. A kind with
    no instances (no reservoirs, no agreement accounts, no demands...) writes no file, and a file of
    that kind left by an earlier run with the same stem is removed (no stale results). Every file is written
    under a hidden staging name first and renamed into place only when all were written: a failure part way
    (:class:`~hydro.errors.OutputError`) leaves the earlier run's files untouched and no staging file behind.
    """
    from hydro.io import netcdf as _nc

    stem = Path(path)
    if stem.suffix == ".nc":
        stem = stem.with_suffix("")
    from hydro.allocation.sources import delivery_by_source_frame

    dsets = {k: result_dataset(res, k) for k in KINDS}
    # the tables too are built before anything is written (a failure here left the NetCDF files without them)
    tables = {
        f"{stem.name}_metrics.csv": (res.metrics, True),
        f"{stem.name}_explanations.csv": (_end_labelled(res.explanations, res.dt), False),
        f"{stem.name}_delivery_by_source.csv": (_end_labelled(delivery_by_source_frame(res), res.dt), False),
        f"{stem.name}_balance.csv": (_end_labelled(res.balance, res.dt), True),
    }
    # a run without explanations (--no-explain) writes no explanations table: a header-only file read as "no
    # shortfall", and an earlier explained run's table would describe other results (it is removed below)
    unexplained = [f"{stem.name}_explanations.csv"] if not res.model_info.get("explained", True) else []
    for name in unexplained:
        del tables[name]
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {stem.parent}: {exc}") from None
    title = f"Water allocation: {res.network.name}"
    # every file is staged under a hidden name first and published only when all are written: an error part way
    # (disk full, a table that cannot be written) leaves the previous run's files as they were, never a mix
    staged: list[tuple[Path, Path]] = []
    try:
        for k, ds in dsets.items():
            if ds is None:
                continue
            p = stem.parent / f"{stem.name}_{k}.nc"
            tmp = p.with_name(f".{p.stem}.staged-{os.getpid()}.nc")
            staged.append((tmp, p))
            _nc.write_netcdf(ds, tmp, title=f"{title} ({k}s)",
                             summary=f"Per-step {k} results of the hydro.allocation LP (HiGHS, "
                                     "lexicographic priorities, equal-coverage water-filling).",
                             attrs={"id": p.stem, **(attrs or {})})
        for name, (df, index) in tables.items():
            p = stem.parent / name
            tmp = p.with_name(f".{name}.staged-{os.getpid()}")
            staged.append((tmp, p))
            df.to_csv(tmp, index=index)
    except BaseException as exc:
        for tmp, _ in staged:
            _nc.discard_temp(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write the allocation results {stem}_*: {exc}") from None
        raise
    # nothing is published while a target cannot be replaced (a directory of that name): os.replace failed part way,
    # after the files staged before it had replaced the earlier run's (a mix of two runs); the stale-file error below
    # left every staging file behind
    for tmp, p in staged:
        if p.is_dir():
            for t_, _ in staged:
                _nc.discard_temp(t_)
            raise OutputError(f"cannot write the allocation results {stem}_*: {p} is a directory")
    for stale in [stem.parent / f"{stem.name}_{k}.nc" for k, ds in dsets.items() if ds is None] + \
            [stem.parent / name for name in unexplained]:
        try:
            stale.unlink(missing_ok=True)
        except OSError as exc:
            for t_, _ in staged:
                _nc.discard_temp(t_)
            raise OutputError(f"cannot remove the stale {stale} of an earlier run: {exc}") from None
    written = []
    try:
        for tmp, p in staged:
            os.replace(tmp, p)  # renames in one directory: each atomic, all after every file was written
            written.append(p)
    except OSError as exc:  # e.g. a folder of the output's name: 73, and no staged file left behind
        for tmp, _ in staged[len(written):]:
            _nc.discard_temp(tmp)
        raise OutputError(f"cannot write the allocation results {stem}_*: {exc}") from None
    return written
