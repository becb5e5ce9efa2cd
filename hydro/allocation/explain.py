"""Explanations: why a demand got less, and diagnosis of an LP that HiGHS cannot solve.

Reasons (column ``reason`` of :attr:`AllocationResult.explanations`)
-------------------------------------------------------------------
``source_empty``     a reservoir upstream was drawn to its floor, an intake/inflow/groundwater
                     source was fully used, or the lagged return flow arriving at a junction upstream
                     was all used;
``pipe_full``        a link upstream ran at its capacity (incl. outages);
``agreement_cap``    a licence, share, storage account, reciprocal bound, delivery cap, hands-off
                     flow or an entitlement without surplus claim limited the delivery;
``higher_priority``  water went to more senior claims (the pinned optimum of a higher level);
``drought_tier``     the request or a link was cut by a drought tier;
``shared_shortage``  the claim shares a shortage equally with claims of its own level and no
                     single upstream bound is binding (degenerate duals);
``not_claimed``      part of the request is not covered by any claim.

The shadow price is the absolute dual value of the constraint in the LP that decided the claim
(m3 of that level's objective per m3 of relaxation): a pipe with shadow price 1 would pass
each extra m3 of capacity on to the short claims one to one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["explanation_frame", "diagnose", "REASONS"]

REASONS = ("source_empty", "pipe_full", "agreement_cap", "higher_priority", "drought_tier", "shared_shortage",
           "not_claimed")
_COLUMNS = ["time", "instance", "party", "requested", "delivered", "shortfall", "claim", "priority", "reason",
            "constraint", "shadow_price"]


def explanation_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The explanation table (flows in m3 s-1), sorted by time then instance."""
    df = pd.DataFrame(rows, columns=_COLUMNS)
    if len(df):
        df = df.sort_values(["time", "instance", "claim"], kind="stable").reset_index(drop=True)
    return df


def diagnose(model: Any, ctx: Any) -> str:
    """Name the constraint groups that make a step's LP infeasible.

    Soft requirements (environmental flows, obligations, demands) cannot make the LP infeasible,
    so this checks the hard groups in turn: inconsistent bounds, non-finite inputs, reservoir
    bounds, and then re-solves an elastic copy (every hard row may be violated at a cost) with
    scipy's HiGHS to list the rows that must be violated, with the amounts.
    """
    msgs: list[str] = []
    lp = model.lp
    bad = np.flatnonzero(lp.col_lb > lp.col_ub + 1e-9)
    for j in bad[:5]:
        msgs.append(f"column {_col_name(model, j)} has lower bound {lp.col_lb[j]:g} > upper bound {lp.col_ub[j]:g}")
    for name, arr in (("inflow", ctx.inflow), ("demand", ctx.demand), ("link capacity", ctx.link_ub)):
        if not np.all(np.isfinite(arr) | (arr == np.inf)) or np.any(np.isnan(arr)):
            msgs.append(f"non-finite {name} values")
    try:
        msgs.extend(_elastic(model))
    except Exception as exc:  # pragma: no cover - diagnosis must never hide the original error
        msgs.append(f"(elastic diagnosis failed: {exc})")
    return "Diagnosis: " + ("; ".join(msgs) if msgs else "no inconsistent bound found (numerical failure)")


def _col_name(model: Any, j: int) -> str:
    if j < model.cS:
        return f"link {model.link_ids[j - model.cF]}"
    if j < model.cSP:
        return f"storage of {model.res_ids[j - model.cS]}"
    if j < model.cU:
        return f"spill of {model.res_ids[j - model.cSP]}"
    if model.cC <= j < model.cT:
        return f"claim {model.claims[j - model.cC].id}"
    return f"column {j}"


def _row_name(model: Any, i: int) -> str:
    if i < len(model.node_ids):
        return f"mass balance of node {model.node_ids[i]}"
    if i >= model.rX:
        return f"agreement row {model.extra_rows[i - model.rX]['name']}"
    if model.rLev <= i < model.rPref:
        return "pinned optimum of a higher priority level"
    return f"row {i}"


def _elastic(model: Any) -> list[str]:
    """Phase-1 elastic LP: min Σ(p + n) with A x + p − n within the row bounds."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    lp = model.lp
    ncol, nrow = model.ncol, model.nrow
    A = sp.csc_matrix((model.A_val, model.A_idx, model.A_start), shape=(nrow, ncol)).tocsr()
    I = sp.identity(nrow, format="csr")
    M = sp.hstack([A, I, -I]).tocsr()
    lb = np.concatenate([np.minimum(lp.col_lb, lp.col_ub), np.zeros(2 * nrow)])
    ub = np.concatenate([np.maximum(lp.col_lb, lp.col_ub), np.full(2 * nrow, np.inf)])
    cost = np.concatenate([np.zeros(ncol), np.ones(2 * nrow)])
    rl, ru = lp.row_lb, lp.row_ub
    A_eq, b_eq = [], []
    eq = rl == ru
    if eq.any():
        A_eq, b_eq = M[eq], rl[eq]
    up = ~eq & np.isfinite(ru)
    lo = ~eq & np.isfinite(rl)
    rows = []
    rhs = []
    if up.any():
        rows.append(M[up])
        rhs.append(ru[up])
    if lo.any():
        rows.append(-M[lo])
        rhs.append(-rl[lo])
    res = linprog(cost, A_ub=sp.vstack(rows) if rows else None, b_ub=np.concatenate(rhs) if rhs else None,
                  A_eq=A_eq if eq.any() else None, b_eq=b_eq if eq.any() else None,
                  bounds=list(zip(lb, ub)), method="highs")
    if res.status != 0:
        return [f"elastic LP status {res.status}: {res.message}"]
    viol = res.x[ncol:ncol + nrow] - res.x[ncol + nrow:]
    out = []
    for i in np.flatnonzero(np.abs(viol) > 1e-6)[:5]:
        out.append(f"{_row_name(model, i)} must be violated by {abs(viol[i]):.6g} m3")
    return out
