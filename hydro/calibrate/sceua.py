"""Shuffled Complex Evolution (SCE-UA; Duan, Sorooshian & Gupta 1992, 1994), a compact version."""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["sce_ua"]


def sce_ua(
    cost: Callable[[np.ndarray], float],
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    seed: int = 0,
    n_complexes: int = 4,
    max_evaluations: int = 5000,
    tol: float = 1e-8,
) -> tuple[np.ndarray, float]:
    """Minimise ``cost`` within the box [lower, upper] (reproducible with ``seed``).

    Complexes of m = 2n+1 points evolve by competitive complex evolution (simplex reflection /
    contraction with random fallback, q = n+1 sub-complex points, triangular selection) and are
    shuffled after each loop. Returns (best x, best cost).

    ``cost`` is called at most ``max_evaluations`` times (fewer complexes when the first population
    of ``n_complexes`` × m points would not fit), but at least m times (one complex).
    """
    rng = np.random.default_rng(seed)
    lo = np.asarray(lower, float)
    hi = np.asarray(upper, float)
    n = lo.size
    m = 2 * n + 1
    q = n + 1
    n_complexes = max(1, min(n_complexes, max_evaluations // m))  # the first population fits the budget
    s = n_complexes * m
    X = lo + rng.random((s, n)) * (hi - lo)
    F = np.array([cost(x) for x in X])
    nev = s
    weights = 2.0 * (m - np.arange(m)) / (m * (m + 1))
    while nev < max_evaluations:
        order = np.argsort(F)
        X, F = X[order], F[order]
        if abs(F[-1] - F[0]) < tol * (1 + abs(F[0])) and nev > 2 * s:
            break
        for k in range(n_complexes):
            if nev >= max_evaluations:
                break
            idx = np.arange(k, s, n_complexes)  # complex k (sorted, dealt like cards)
            cx, cf = X[idx].copy(), F[idx].copy()
            for _ in range(m):  # alpha*... beta = m evolution steps per complex
                if nev >= max_evaluations:  # checked before each evaluation: the budget is never exceeded
                    break
                sel = np.sort(rng.choice(m, size=q, replace=False, p=weights))
                sx, sf = cx[sel], cf[sel]
                worst = np.argmax(sf)
                centroid = (sx.sum(axis=0) - sx[worst]) / (q - 1)
                trial = 2 * centroid - sx[worst]
                # random points come from the smallest hypercube holding the complex (Duan et al. 1992,
                # CCE steps iv and vi), not from the whole search box: the complex keeps its local search
                hlo, hhi = cx.min(axis=0), cx.max(axis=0)
                if np.any(trial < lo) or np.any(trial > hi):
                    trial = hlo + rng.random(n) * (hhi - hlo)
                ft = cost(trial)
                nev += 1
                if ft >= sf[worst]:
                    if nev >= max_evaluations:  # no evaluation left: the complex keeps its worst point
                        break
                    trial = 0.5 * (centroid + sx[worst])
                    ft = cost(trial)
                    nev += 1
                    if ft >= sf[worst]:
                        if nev >= max_evaluations:
                            break
                        trial = hlo + rng.random(n) * (hhi - hlo)
                        ft = cost(trial)
                        nev += 1
                cx[sel[worst]], cf[sel[worst]] = trial, ft
                o = np.argsort(cf)
                cx, cf = cx[o], cf[o]
            X[idx], F[idx] = cx, cf
    b = int(np.argmin(F))
    return X[b], float(F[b])
