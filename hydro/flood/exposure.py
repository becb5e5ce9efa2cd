"""Exposure: people and road length in flooded cells.

Pure functions on a maximum-depth map (y, x) with a rioxarray georeference:

* :func:`people_affected` — a population-count raster (people per cell, any resolution, same CRS): a coarser one
  spread uniformly over its cells (density at each flooded map cell's centre × the map cell's area), a finer one
  counted cell by cell in the map cell holding the population cell's centre;
* :func:`roads_affected_km` — road centrelines (GeoJSON LineString / MultiLineString, lon/lat as the GeoJSON
  standard says, or already in the map's CRS), cut into pieces of at most 1/20 of a cell, summed where the piece's
  midpoint lies in a flooded cell.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from hydro.errors import InputDataError, InputMissingError
from hydro.io.netcdf import NETCDF_LOCK

__all__ = ["people_affected", "roads_affected_km", "read_roads", "read_population"]

logger = logging.getLogger(__name__)

Line = np.ndarray  # (n, 2) x, y in the map's CRS


def _flooded(depth: xr.DataArray, threshold_m: float) -> np.ndarray:
    d = np.asarray(depth.squeeze().values, dtype=np.float64)
    if d.ndim != 2:
        raise InputDataError(f"exposure: depth must be a (y, x) map, got dims {depth.dims}")
    return np.isfinite(d) & (d > threshold_m)


def _cell_index(transform: Any, x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inv = ~transform
    col, row = inv * (x, y)
    col = np.floor(np.asarray(col)).astype(np.int64)
    row = np.floor(np.asarray(row)).astype(np.int64)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    return row, col, inside


def people_affected(depth: xr.DataArray, population: xr.DataArray, threshold_m: float = 0.1) -> float:
    """People living in flooded cells [persons].

    Parameters
    ----------
    depth : xarray.DataArray (y, x)
        Maximum depth [m] with CRS and transform.
    population : xarray.DataArray (y, x)
        People per cell (e.g. WorldPop counts) with CRS and transform; NaN = none.
    threshold_m : float
        A cell is flooded where depth > threshold [m].
    """
    if depth.rio.crs is None or population.rio.crs is None:
        raise InputDataError("exposure: depth map and population raster need a CRS")
    if depth.rio.crs != population.rio.crs:
        raise InputDataError(f"exposure: population raster CRS {population.rio.crs} differs from the map's "
                             f"{depth.rio.crs}: reproject it first")
    flooded = _flooded(depth, threshold_m)
    ys, xs = np.nonzero(flooded)
    if ys.size == 0:
        return 0.0
    tr = depth.rio.transform()
    ptr = population.rio.transform()
    pop = np.nan_to_num(np.asarray(population.squeeze().values, dtype=np.float64), nan=0.0)
    if np.any(pop < 0):
        raise InputDataError("exposure: negative population counts")
    if abs(ptr.a * ptr.e) < abs(tr.a * tr.e):
        # population finer than the map: each population cell counts in the map cell holding its centre
        # (sampling the population at map-cell centres would see one of several population cells)
        pr, pc = np.nonzero(pop > 0)
        px, py = ptr * (pc + 0.5, pr + 0.5)
        row, col, inside = _cell_index(tr, np.asarray(px), np.asarray(py), flooded.shape)
        people = pop[pr[inside], pc[inside]]
        return float(np.sum(people[flooded[row[inside], col[inside]]]))
    cx, cy = tr * (xs + 0.5, ys + 0.5)
    row, col, inside = _cell_index(ptr, np.asarray(cx), np.asarray(cy), pop.shape)
    density = pop[row[inside], col[inside]] / abs(ptr.a * ptr.e)  # people per m2
    return float(np.sum(density) * abs(tr.a * tr.e))


def roads_affected_km(depth: xr.DataArray, roads: Sequence[Line], threshold_m: float = 0.1) -> float:
    """Length of road centrelines over flooded cells [km] (pieces of at most 1/20 cell: error below one piece per crossing)."""
    flooded = _flooded(depth, threshold_m)
    tr = depth.rio.transform()
    step = 0.05 * min(abs(tr.a), abs(tr.e))
    total = 0.0
    for line in roads:
        pts = np.asarray(line, dtype=np.float64)
        for (xa, ya), (xb, yb) in zip(pts[:-1], pts[1:]):
            seg = float(np.hypot(xb - xa, yb - ya))
            if seg == 0:
                continue
            n = max(int(np.ceil(seg / step)), 1)
            f = (np.arange(n) + 0.5) / n
            row, col, inside = _cell_index(tr, xa + f * (xb - xa), ya + f * (yb - ya), flooded.shape)
            total += seg / n * float(np.count_nonzero(flooded[row[inside], col[inside]]))
    return total / 1000.0


def read_roads(path: str | Path, crs: Any, *, max_bytes: int = 50 * 2**20) -> list[Line]:
    """Road centrelines of a GeoJSON file as lines in ``crs`` (lon/lat coordinates are transformed)."""
    from pyproj import CRS, Transformer

    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"{path}: roads file not found")
    if path.stat().st_size > max_bytes:
        raise InputDataError(f"{path}: larger than {max_bytes / 2**20:.0f} MB")
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: not GeoJSON: {exc}") from exc
    feats = doc.get("features", [doc]) if isinstance(doc, dict) else []
    lines: list[np.ndarray] = []
    for f in feats:
        geom = f.get("geometry", f) if isinstance(f, dict) else None
        if not isinstance(geom, dict):
            continue
        if geom.get("type") == "LineString":
            parts = [geom.get("coordinates", [])]
        elif geom.get("type") == "MultiLineString":
            parts = geom.get("coordinates", [])
        else:
            continue
        for part in parts:
            arr = np.asarray(part, dtype=np.float64)
            if arr.ndim == 2 and arr.shape[0] >= 2 and arr.shape[1] >= 2 and np.isfinite(arr[:, :2]).all():
                lines.append(arr[:, :2])
    if not lines:
        raise InputDataError(f"{path}: no LineString or MultiLineString features")
    allpts = np.concatenate(lines)
    if np.all(np.abs(allpts[:, 0]) <= 180) and np.all(np.abs(allpts[:, 1]) <= 90):
        tf = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
        lines = [np.column_stack(tf.transform(ln[:, 0], ln[:, 1])) for ln in lines]
    return lines


def read_population(path: str | Path) -> xr.DataArray:
    """A population-count raster (people per cell) with its georeference."""
    path = Path(path)
    if not path.is_file():
        raise InputMissingError(f"{path}: population raster not found")
    try:
        with NETCDF_LOCK:  # GDAL reads a NetCDF raster through netCDF-C (not thread-safe)
            da = rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True).load()
    except Exception as exc:  # rasterio raises several types for garbage
        raise InputDataError(f"{path}: cannot read the population raster: {exc}") from exc
    if da.rio.crs is None:
        raise InputDataError(f"{path}: the population raster has no CRS")
    return da
