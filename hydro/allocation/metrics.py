"""Performance metrics of supply per region (Hashimoto et al., 1982).

For a region with demand ``D_t`` and delivery ``x_t`` (sums over its demand nodes) and a failure
defined as ``D_t − x_t > tol · D_t``:

* ``reliability_time``   = fraction of steps without failure (time-based reliability);
* ``reliability_volume`` = ``Σ x_t / Σ D_t`` (volume-based reliability);
* ``vulnerability``      = mean relative shortfall ``(D_t − x_t)/D_t`` over failure steps (0 if none);
* ``max_shortfall``      = largest relative shortfall of a step;
* ``resilience``         = number of failure → success transitions / number of failure steps that have a next
  step (the estimate of P(success at t+1 | failure at t); a failure in the last step cannot recover yet and does
  not count); 1 if there is no failure, NaN if the only failure is the last step;
* ``failure_events``     = number of maximal runs of consecutive failure steps;
* ``max_failure_duration`` = length of the longest run [steps].

References
----------
Hashimoto, T., Stedinger, J. R., Loucks, D. P. (1982). Reliability, resiliency, and vulnerability
criteria for water resource system performance evaluation. Water Resources Research 18(1), 14–20.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["supply_metrics", "METRIC_NAMES"]

METRIC_NAMES = ("reliability_time", "reliability_volume", "vulnerability", "max_shortfall", "resilience",
                "failure_events", "max_failure_duration", "demand_volume", "delivered_volume", "shortfall_volume")


def _one(D: np.ndarray, x: np.ndarray, tol: float) -> dict[str, float]:
    short = np.maximum(D - x, 0.0)
    fail = short > tol * np.maximum(D, 1e-300)
    fail &= D > 0
    n = D.size
    rel = np.divide(short, D, out=np.zeros_like(short), where=D > 0)
    runs = []
    run = 0
    for f in fail:
        if f:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    if run:
        runs.append(run)
    nfail = int(fail.sum())
    recov = int(np.sum(fail[:-1] & ~fail[1:])) if n > 1 else 0
    can_recover = int(fail[:-1].sum())  # failures with a next step
    return {
        "reliability_time": 1.0 - nfail / n if n else float("nan"),
        "reliability_volume": float(x.sum() / D.sum()) if D.sum() > 0 else 1.0,
        "vulnerability": float(rel[fail].mean()) if nfail else 0.0,
        "max_shortfall": float(rel.max()) if n else 0.0,
        "resilience": (recov / can_recover if can_recover else float("nan")) if nfail else 1.0,
        "failure_events": float(len(runs)),
        "max_failure_duration": float(max(runs) if runs else 0),
        "demand_volume": float(D.sum()),
        "delivered_volume": float(x.sum()),
        "shortfall_volume": float(short.sum()),
    }


def supply_metrics(demand: np.ndarray, delivered: np.ndarray, groups: list[str], tol: float = 1e-6) -> pd.DataFrame:
    """Metrics per group (region) from per-demand series.

    Parameters
    ----------
    demand, delivered : ndarray (n_demand, n_time)
        Requested and delivered volume per step [m3].
    groups : list of str
        Region of each demand.
    tol : float
        Relative shortfall below which a step counts as a success.

    Returns
    -------
    pandas.DataFrame
        One row per region (index ``region``), columns :data:`METRIC_NAMES` (volumes in m3).

    Raises
    ------
    InputDataError
        Arrays not both ``(len(groups), n_time)``, or NaN / infinite values.
    """
    from hydro.errors import InputDataError

    demand = np.asarray(demand, dtype=np.float64)
    delivered = np.asarray(delivered, dtype=np.float64)
    groups = list(groups)
    if demand.ndim != 2 or delivered.shape != demand.shape or demand.shape[0] != len(groups):
        # (time, demand) arrays such as AllocationResult.requested failed with a raw IndexError (or, square, gave
        # the metrics of the wrong axis); arrays of different lengths with a raw broadcasting ValueError
        raise InputDataError(f"supply_metrics: demand {demand.shape} and delivered {delivered.shape} must both be "
                             f"(n_demand, n_time) with one row per group ({len(groups)} groups); for an "
                             "AllocationResult pass res.requested.T and res.delivered.T")
    if not (np.all(np.isfinite(demand)) and np.all(np.isfinite(delivered))):
        raise InputDataError("supply_metrics: NaN or infinite demand/delivery (a missing step is neither a success "
                             "nor a failure: fill or drop it first)")
    rows = {}
    for g in dict.fromkeys(groups):
        sel = np.array([x == g for x in groups])
        rows[g] = _one(demand[sel].sum(axis=0), delivered[sel].sum(axis=0), tol)
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRIC_NAMES))
    df.index.name = "region"
    return df
