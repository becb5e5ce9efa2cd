"""The key numbers of a run: peak flows and their times, flooded area, exposure, shortfalls by region."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hydro.errors import InputDataError
from hydro.times import naive_utc
from hydro.report._data import (
    DEFAULT_FLOOD_THRESHOLD_M,
    cell_area_m2,
    depth_map,
    exposure_numbers,
    gauge_series,
    region_series,
)

__all__ = ["format_number", "iso_time", "key_numbers"]


def iso_time(t: Any) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` of a time (naive = UTC), None for None/NaT."""
    if t is None:
        return None
    ts = pd.Timestamp(t)
    if pd.isna(ts):
        return None
    return naive_utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_number(value: Any) -> str:
    """A number as the report prints it: about 3 significant digits, thousands separated.

    ``>= 100`` → no decimals (``103,680``); ``>= 10`` → 1 decimal; ``>= 1`` → 2 decimals; smaller →
    3 significant digits (``0.00630``); ``None``/NaN → ``"–"``; strings unchanged.
    """
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    v = float(value)
    if not math.isfinite(v):
        return "–"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:#.3g}"


def _flood_entry(domain: str, product: xr.Dataset | xr.DataArray, threshold_m: float | None) -> dict[str, Any]:
    depth = depth_map(product, f"flood[{domain}]")
    if threshold_m is None:
        attrs = product.attrs
        threshold_m = float(attrs.get("hydro_flood_threshold_m", DEFAULT_FLOOD_THRESHOLD_M))
    if not (threshold_m >= 0):
        raise InputDataError(f"flood threshold must be >= 0 m, got {threshold_m}")
    d = np.asarray(depth.values)
    if d.dtype.kind != "f":
        d = d.astype(np.float64)
    area = cell_area_m2(depth)
    # compare in the map's precision, as the flood engines set flood_extent (a float32 0.1 m is not > 0.1 m)
    wet = np.isfinite(d) & (d > d.dtype.type(threshold_m))
    finite = np.isfinite(d)
    return {
        "domain": domain,
        "flooded_area_km2": float(np.sum(area[wet]) / 1e6),
        "flooded_cells": int(np.count_nonzero(wet)),
        "cell_area_m2": float(np.median(area)),
        "threshold_m": float(threshold_m),
        "max_depth_m": float(np.max(d[finite])) if finite.any() else None,
    }


def key_numbers(
    gauges: xr.Dataset | None = None,
    flood: xr.Dataset | xr.DataArray | Mapping[str, xr.Dataset | xr.DataArray] | None = None,
    allocation: xr.Dataset | None = None,
    *,
    exposure: Mapping[str, Any] | None = None,
    flood_threshold_m: float | None = None,
) -> dict[str, Any]:
    """Derive the numbers a person reads first from the run's datasets.

    Parameters
    ----------
    gauges : xarray.Dataset, optional
        CF DSG timeSeries of ``discharge`` [m3 s-1] (:attr:`hydro.model.RunResult.gauges`).
    flood : Dataset, DataArray or mapping name -> one of those, optional
        Maximum depth [m]: a 2-D run (``max_flood_depth``), a HAND map (``flood_depth``, maximum
        over time), a depth DataArray, or several of them by domain name (e.g. ``{"catchment
        (HAND)": hand, "coastal plain (2-D)": plain}``; areas are per domain, not summed).
    allocation : xarray.Dataset, optional
        ``AllocationResult.to_dataset("region")`` (or ``"demand"``, summed by ``region_id``).
    exposure : mapping, optional
        Numbers from exposure layers, e.g. ``{"people_affected": 1200, "roads_affected_km": 3.4}``, or such
        numbers per flood map (``{"coastal plain (2-D)": {...}, "whole catchment (HAND)": {...}}``, one row
        each in the report); copied (validated) to the result.
    flood_threshold_m : float, optional
        Depth above which a cell is flooded [m]; default the product's
        ``hydro_flood_threshold_m`` attribute, else 0.1 m.

    Returns
    -------
    dict
        JSON-serialisable; only the keys of the inputs given:

        * ``gauges``: list of ``{"id", "name", "peak_discharge_m3_s", "peak_time", "peak_variable"}``
          — peak of ``max_discharge`` (maximum within the output step) if present else of
          ``discharge``; ``peak_time`` (ISO 8601 UTC) is the label (end) of the peak step;
        * ``flood``: list per domain of ``{"domain", "flooded_area_km2", "flooded_cells",
          "cell_area_m2", "threshold_m", "max_depth_m"}`` with flooded area = Σ area of the cells
          whose maximum depth > threshold (NaN cells are not flooded);
        * ``allocation``: list per region of ``{"region", "name", "demand_volume_m3",
          "delivered_volume_m3", "shortfall_volume_m3", "shortfall_percent"}``, volumes = Σ rate ×
          step length over the run, percent of the demand volume (0 when there is no demand); None
          when a value of the run is missing (NaN: unknown, not zero);
        * ``exposure``: the validated ``exposure`` mapping.
    """
    out: dict[str, Any] = {}
    if gauges is not None:
        out["gauges"] = [
            {"id": g.id, "name": g.name, "peak_discharge_m3_s": g.peak, "peak_time": iso_time(g.peak_time),
             "peak_variable": g.peak_variable}
            for g in gauge_series(gauges)
        ]
    if flood is not None:
        if isinstance(flood, (xr.Dataset, xr.DataArray)):
            name = str(flood.attrs.get("title") or getattr(flood, "name", None) or "flood map")
            products: Mapping[str, Any] = {name: flood}
        else:
            products = flood
        out["flood"] = [_flood_entry(str(k), v, flood_threshold_m) for k, v in products.items()]
    if allocation is not None:  # an unknown volume (a missing value in the run) is None, as a missing peak
        out["allocation"] = [{"region": r.id, "name": r.name,
                              **{k: (v if math.isfinite(v) else None) for k, v in r.volumes().items()}}
                             for r in region_series(allocation)]
    if exposure is not None:
        out["exposure"] = exposure_numbers(exposure)
    return out
