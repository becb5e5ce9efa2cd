"""Water allocation between regions under supply agreements (:mod:`hydro.allocation`).

Per time step an edge LP is solved with HiGHS: lexicographic priorities (priority 1 maximised
and pinned before priority 2 is considered), equal-coverage water-filling within a level, the
agreements of ``docs/allocation.md`` (entitlements, contractual minimums, licences incl. running
averages, shares, pro-rata curtailment, drought tiers, storage accounts, environmental flows, border
obligations, reserves, reciprocal returns), explanations of every shortfall and CF DSG outputs.

Examples
--------
>>> from hydro.allocation import load_network, allocate
>>> net = load_network({
...     "network": {"start": "2024-01-01", "steps": 2},
...     "regions": [{"id": "a"}],
...     "nodes": [{"id": "river", "type": "intake", "inflow": "1 m3/s"},
...               {"id": "city", "type": "demand", "region": "a", "demand": "600 L/s"}],
...     "links": [{"id": "pipe", "from": "river", "to": "city", "capacity": "500 L/s"}]})
>>> res = allocate(net)
>>> res.delivered_rate()["city"].round(6).tolist()
[0.5, 0.5]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydro.allocation.agreements import REGISTRY as AGREEMENT_TYPES
from hydro.allocation.core import AllocationResult, allocate, run_scenarios
from hydro.allocation.metrics import supply_metrics
from hydro.allocation.network import Network, load_network
from hydro.allocation.solver import AllocationModel, SolverError

__all__ = [
    "load_network",
    "Network",
    "allocate",
    "AllocationResult",
    "AllocationModel",
    "run_scenarios",
    "supply_metrics",
    "cli_allocate",
    "AGREEMENT_TYPES",
    "SolverError",
]


def cli_allocate(network_path: str | Path, output_path: str | Path, *, start: Any = None, steps: int | None = None,
                 inflows: dict[str, Any] | None = None, explain: bool = True, **attrs: Any) -> list[Path]:
    """Load a network, allocate and write all outputs (the body of ``hydro allocate``).

    Parameters
    ----------
    network_path : path
        ``models/<network>.toml``.
    output_path : path
        Output stem, e.g. ``outputs/balikpapan_water`` (files ``<stem>_demand.nc``, ...). A directory (an
        existing one, or a path ending in ``/``) takes the network file's name as the stem:
        ``-o outputs/`` writes ``outputs/balikpapan_water_demand.nc``, ...
    start, steps : optional
        Override the time axis of the file.
    inflows : dict, optional
        Run-time series for ``external`` entries (e.g. simulated inflows from ``hydro run``).
    explain : bool
        Record explanations.
    **attrs
        Extra global attributes (e.g. ``id`` = run id).

    Returns
    -------
    list of Path
        Files written. Nothing is written if the network or the inputs are invalid.
    """
    res = allocate(load_network(network_path), inflows, start=start, steps=steps, explain=explain)
    return res.write(_output_stem(network_path, output_path), **attrs)


def _output_stem(network_path: str | Path, output_path: str | Path) -> Path:
    """The stem of the output files: ``output_path`` itself, or ``<dir>/<network file stem>`` for a directory."""
    text = str(output_path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return Path(text) / Path(network_path).stem
    return Path(text)
