"""Flood hazard rating to people (Defra/Environment Agency R&D FD2320/FD2321, 2006).

``HR = d * (v + 0.5) + DF`` with depth ``d`` (m), speed ``v`` (m s-1) and the debris factor ``DF`` of
FD2321 Technical Report 2 (Table 3.1) by land use:

==========================================  ===============  ========  =====
depth / velocity                            pasture/arable   woodland  urban
==========================================  ===============  ========  =====
0 < d <= 0.25 m                             0                0         0
0.25 < d <= 0.75 m (and v <= 2 m s-1)       0                0.5       1
d > 0.75 m and/or v > 2 m s-1 (d > 0.25 m)  0.5              1         1
==========================================  ===============  ========  =====

Classes (FD2321 Table 13.1 / TR2): HR < 0.75 low ("caution"), 0.75-1.25 moderate ("danger for some"),
1.25-2.0 significant ("danger for most"), > 2.0 extreme ("danger for all"). The 2-D solver evaluates HR every
time step and keeps its maximum (never ``max d * max v``).
"""
from __future__ import annotations

import numpy as np

from hydro.errors import InputDataError

__all__ = [
    "LANDUSE_CODES",
    "HAZARD_CLASS_BOUNDS",
    "HAZARD_CLASS_MEANINGS",
    "HAZARD_CLASS_ATTRS",
    "debris_factor",
    "hazard_rating",
    "hazard_class",
]

#: land-use codes of the debris factor
LANDUSE_CODES = {"pasture": 0, "arable": 0, "woodland": 1, "urban": 2}
#: upper bounds of hazard classes 1..3 (class 4 above the last)
HAZARD_CLASS_BOUNDS = (0.75, 1.25, 2.0)
HAZARD_CLASS_MEANINGS = "dry low_caution moderate_danger_for_some significant_danger_for_most extreme_danger_for_all"
HAZARD_CLASS_ATTRS = {
    "long_name": "flood hazard to people class (Defra/EA FD2321) of the maximum hazard rating",
    "units": "1",
    "flag_values": np.array([0, 1, 2, 3, 4], dtype=np.int8),
    "flag_meanings": HAZARD_CLASS_MEANINGS,
    "valid_range": np.array([0, 4], dtype=np.int8),
    "coverage_content_type": "thematicClassification",
    "ancillary_variables": "max_hazard_rating",
    "comment": "0 never wet; 1 HR < 0.75, 2 0.75 <= HR <= 1.25, 3 1.25 < HR <= 2.0, 4 HR > 2.0 (FD2321/TR2 Table 13.1)",
}


def _landuse_codes(landuse) -> np.ndarray:
    """Land-use codes 0, 1, 2 from codes or names of :data:`LANDUSE_CODES` (scalar or array); anything else
    (another code, NaN, an unknown name) is an :class:`~hydro.errors.InputDataError`, not "urban"."""
    lu = np.asarray(landuse)
    if lu.dtype.kind in "USO":
        names = np.vectorize(lambda v: str(v).strip().lower(), otypes=[object])(lu)
        unknown = sorted({str(v) for v in np.ravel(names) if v not in LANDUSE_CODES})
        if unknown:
            raise InputDataError(f"land use {unknown[:5]}: expected codes 0, 1, 2 or names {sorted(LANDUSE_CODES)}")
        return np.vectorize(LANDUSE_CODES.__getitem__, otypes=[np.int64])(names)
    if lu.dtype.kind not in "iuf" or not np.all(np.isin(lu, (0, 1, 2))):
        bad = np.unique(lu[~np.isin(lu, (0, 1, 2))])[:5] if lu.dtype.kind in "iuf" else lu.dtype
        raise InputDataError(f"land-use codes {bad}: expected 0 (pasture/arable), 1 (woodland) or 2 (urban)")
    return lu.astype(np.int64)


def debris_factor(depth_m, speed_m_s, landuse=2):
    """Debris factor (0, 0.5 or 1) for depth (m), speed (m s-1) and land-use code(s) (0, 1, 2) or names
    (``"pasture"``, ``"arable"``, ``"woodland"``, ``"urban"``)."""
    d = np.asarray(depth_m, dtype=np.float64)
    v = np.asarray(speed_m_s, dtype=np.float64)
    lu = _landuse_codes(landuse)
    mid = np.select([lu == 0, lu == 1], [0.0, 0.5], 1.0)
    high = np.where(lu == 0, 0.5, 1.0)
    return np.where(d <= 0.25, 0.0, np.where((d <= 0.75) & (v <= 2.0), mid, high))


def hazard_rating(depth_m, speed_m_s, landuse=2):
    """Hazard rating ``HR = d (v + 0.5) + DF`` (dimensionless) of FD2321; ``landuse`` as :func:`debris_factor`.

    NaN (no data) gives NaN; a negative depth or speed is an :class:`~hydro.errors.InputDataError` (it gave a
    negative rating, read as "low hazard"; a speed is a magnitude: pass ``hypot(u, v)``)."""
    d = np.asarray(depth_m, dtype=np.float64)
    v = np.asarray(speed_m_s, dtype=np.float64)
    for name, a, unit in (("depth", d, "m"), ("speed", v, "m s-1")):
        if np.any(a < 0):
            raise InputDataError(f"hazard rating: negative {name} ({float(np.nanmin(a)):.6g} {unit})")
    return d * (v + 0.5) + debris_factor(d, v, landuse)


def hazard_class(rating, max_depth_m=None, h_dry: float = 0.0):
    """Hazard class 1-4 from a rating (0 where ``max_depth_m <= h_dry``, i.e. never wet; -1 where the rating or
    the depth is NaN: no data, outside ``valid_range`` of :data:`HAZARD_CLASS_ATTRS`)."""
    hr = np.asarray(rating, dtype=np.float64)
    cls = np.ones(hr.shape, np.int8)
    # FD2321/TR2 Table 13.1: HR < 0.75 low, 0.75-1.25 moderate, 1.25-2.0 significant, > 2.0 extreme: 0.75 is
    # moderate, 1.25 moderate, 2.0 significant (each class includes its upper bound, the first its lower one)
    lo, mid, hi = HAZARD_CLASS_BOUNDS
    cls += (hr >= lo).astype(np.int8) + (hr > mid).astype(np.int8) + (hr > hi).astype(np.int8)
    nodata = np.isnan(hr)
    if max_depth_m is not None:
        md = np.asarray(max_depth_m, dtype=np.float64)
        cls = np.where(md > h_dry, cls, 0).astype(np.int8)
        nodata = nodata | np.isnan(md)
    # a NaN rating (no data) is not "low hazard": it compared as class 1 before
    return np.where(nodata, -1, cls).astype(np.int8)
