"""Numba kernels of the coupled run: per-step forcing checks and water-balance sums (flat arrays)."""
from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["masked_forcing", "balance_sums", "lateral_inflow", "accumulate_add", "accumulate_max"]

_JIT = dict(cache=True, nogil=True)
_BLOCK = 4096


@nb.njit(**_JIT)
def masked_forcing(values, valid, out):
    """``out = values`` on valid cells, 0 elsewhere (float64).

    Returns ``(n_missing, n_negative)`` counted on valid cells (NaN/inf are missing).
    """
    missing = 0
    negative = 0
    for i in range(values.shape[0]):
        if valid[i]:
            v = np.float64(values[i])
            if not np.isfinite(v):
                missing += 1
                out[i] = 0.0
            elif v < 0.0:
                negative += 1
                out[i] = v
            else:
                out[i] = v
        else:
            out[i] = 0.0
    return missing, negative


@nb.njit(**_JIT)
def balance_sums(valid_idx, area_m2, precip_mm, evap_mm, exchange_mm, storage_new_mm, storage_old_mm):
    """Domain volumes [m3] of precipitation, evaporation, exchange, storage change and the gross
    storage turnover ``Σ |ΔS_cell|``.

    Sums over ``valid_idx`` in blocks (pairwise-like accuracy) and copies ``storage_new_mm``
    into ``storage_old_mm`` for the next step. Returns a float64 array of 5.
    """
    out = np.zeros(5)
    n = valid_idx.shape[0]
    for b0 in range(0, n, _BLOCK):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        for j in range(b0, min(n, b0 + _BLOCK)):
            i = valid_idx[j]
            a = area_m2[i] * 1e-3
            s0 += precip_mm[i] * a
            s1 += evap_mm[i] * a
            s2 += exchange_mm[i] * a
            d = (storage_new_mm[i] - storage_old_mm[i]) * a
            s3 += d
            s4 += abs(d)
            storage_old_mm[i] = storage_new_mm[i]
        out[0] += s0
        out[1] += s1
        out[2] += s2
        out[3] += s3
        out[4] += s4
    return out


@nb.njit(**_JIT)
def lateral_inflow(order, runoff_mm, area_m2, inv_1000_dt, out):
    """Lateral inflow per routing position [m3 s-1]: ``runoff_mm[order] · A / (1000 Δt)``."""
    for p in range(order.shape[0]):
        i = order[p]
        out[p] = runoff_mm[i] * area_m2[i] * inv_1000_dt


@nb.njit(**_JIT)
def accumulate_add(acc, values):
    for i in range(acc.shape[0]):
        acc[i] += values[i]


@nb.njit(**_JIT)
def accumulate_max(acc, values):
    for i in range(acc.shape[0]):
        if values[i] > acc[i]:
            acc[i] = values[i]
