"""Skill scores (runoff.md §7): NSE, KGE (Gupta et al. 2009), KGE' (Kling et al. 2012).

Each returns a dict with ``score`` and its components, computed only where both series are finite.
"""
from __future__ import annotations

import numpy as np

from hydro.errors import InputDataError

__all__ = ["nse", "kge", "kge_prime", "paired"]


def paired(sim, obs) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``sim`` and ``obs`` at the steps where both are finite (same-length arrays)."""
    s = np.asarray(sim, dtype=np.float64).ravel()
    o = np.asarray(obs, dtype=np.float64).ravel()
    if s.shape != o.shape:
        raise InputDataError(f"simulated ({s.size}) and observed ({o.size}) series differ in length")
    ok = np.isfinite(s) & np.isfinite(o)
    if ok.sum() < 2:
        raise InputDataError("fewer than 2 time steps with both simulated and observed values")
    return s[ok], o[ok]


def nse(sim, obs) -> dict[str, float]:
    """NSE = 1 − Σ(s − o)² / Σ(o − ō)² (Nash & Sutcliffe 1970)."""
    s, o = paired(sim, obs)
    den = float(np.sum((o - o.mean()) ** 2))
    if np.all(o == o[0]):  # not den == 0: the round-off of the mean of equal values gave den ~1e-34, NSE ~-1e31
        raise InputDataError("observed series is constant: NSE undefined")
    return {"score": 1.0 - float(np.sum((s - o) ** 2)) / den, "n": int(s.size)}


def _r(s, o) -> float:
    ss, so = s.std(), o.std()
    if ss == 0 or so == 0:
        return 0.0
    return float(np.mean((s - s.mean()) * (o - o.mean())) / (ss * so))


def kge(sim, obs) -> dict[str, float]:
    """KGE = 1 − √((r−1)² + (α−1)² + (β−1)²), α = σs/σo, β = μs/μo (Gupta et al. 2009)."""
    s, o = paired(sim, obs)
    if o.mean() == 0 or np.all(o == o[0]):  # equal values: o.std() can be ~1e-17 (round-off), not 0
        raise InputDataError("observed series has zero mean or variance: KGE undefined")
    r = _r(s, o)
    alpha = float(s.std() / o.std())
    beta = float(s.mean() / o.mean())
    score = 1.0 - float(np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))
    return {"score": score, "r": r, "alpha": alpha, "beta": beta, "n": int(s.size)}


def kge_prime(sim, obs) -> dict[str, float]:
    """KGE' = 1 − √((r−1)² + (γ−1)² + (β−1)²), γ = CVs/CVo (Kling et al. 2012)."""
    s, o = paired(sim, obs)
    if o.mean() == 0 or np.all(o == o[0]):  # equal values: o.std() can be ~1e-17 (round-off), not 0
        raise InputDataError("observed series has zero mean or variance: KGE' undefined")
    r = _r(s, o)
    beta = float(s.mean() / o.mean())
    gamma = float((s.std() / s.mean()) / (o.std() / o.mean())) if s.mean() != 0 else 0.0
    score = 1.0 - float(np.sqrt((r - 1) ** 2 + (gamma - 1) ** 2 + (beta - 1) ** 2))
    return {"score": score, "r": r, "gamma": gamma, "beta": beta, "n": int(s.size)}
