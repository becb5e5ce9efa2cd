"""Exposure: people and road length in flooded cells.

Pure functions on a maximum-depth map (y, x) with a rioxarray georeference:

* :func:`people_affected` — a population-count raster (people per cell, any resolution and CRS), each cell's people
  spread uniformly over it: exact area overlaps on the same CRS, sampled true areas across CRSs;
* :func:`roads_affected_km` — road centrelines (GeoJSON LineString / MultiLineString, lon/lat as the GeoJSON
  standard says, or already in the map's CRS), cut into pieces of at most 1/20 of a cell, summed where the piece's
  midpoint lies in a flooded cell, lengths in metres whatever the map's CRS (degrees, feet, Web Mercator).
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
from hydro.terrain.grid import interval_overlaps

__all__ = ["people_affected", "roads_affected_km", "read_roads", "read_population"]

logger = logging.getLogger(__name__)

Line = np.ndarray  # (n, 2) x, y in the map's CRS


def _yx(da: xr.DataArray, what: str) -> np.ndarray:
    """The (y, x) values of ``da``: length-1 dims other than y/x (``band``, ``time``) dropped, a 1-row, 1-column
    or 1-cell grid kept (``squeeze()`` dropped its y/x dims too: "got dims ('y', 'x')")."""
    extra = [d for d in da.dims if d not in ("y", "x") and da.sizes[d] == 1]
    da = da.isel({d: 0 for d in extra}, drop=True) if extra else da
    if set(da.dims) != {"y", "x"}:
        raise InputDataError(f"exposure: {what} must be a (y, x) map, got dims {da.dims}")
    return np.asarray(da.transpose("y", "x").values)


def _flooded(depth: xr.DataArray, threshold_m: float) -> np.ndarray:
    if not (np.isfinite(threshold_m) and threshold_m >= 0.0):
        # as extent_polygons: NaN counted nobody, a negative one counted every dry (depth 0) cell as flooded
        raise InputDataError(f"exposure: threshold_m must be finite and >= 0, not {threshold_m}")
    d = _yx(depth, "depth")
    if d.dtype.kind != "f":
        d = d.astype(np.float64)
    # compare in the map's precision, as the flood engines set flood_extent and the report counts flooded cells
    # (a float32 0.1 m is not > 0.1 m: its people were counted in a cell the extent calls not flooded)
    return np.isfinite(d) & (d > d.dtype.type(threshold_m))


def _cell_index(transform: Any, x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inv = ~transform
    col, row = inv * (x, y)
    col = np.floor(np.asarray(col)).astype(np.int64)
    row = np.floor(np.asarray(row)).astype(np.int64)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    return row, col, inside


def _cell_edges(transform: Any, n: int, axis: str) -> np.ndarray:
    """The ``n + 1`` cell edges of a rectilinear grid along ``x`` or ``y`` (CRS units, the grid's own order)."""
    if transform.b != 0 or transform.d != 0:
        raise InputDataError(f"exposure: rotated grid ({transform!r}); warp it to a north-up grid first")
    step, origin = (transform.a, transform.c) if axis == "x" else (transform.e, transform.f)
    return origin + step * np.arange(n + 1, dtype=np.float64)


def _people_same_crs(flooded: np.ndarray, tr: Any, pop: np.ndarray, ptr: Any, block_rows: int = 512) -> float:
    """Exact for people spread uniformly over each population cell: sum over the population cells of their count
    times the flooded share of their area (overlaps of the two grids' cells, any resolutions and offsets)."""
    rows = np.flatnonzero(flooded.any(axis=1))
    cols = np.flatnonzero(flooded.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1  # the flooded window
    ye, xe = _cell_edges(tr, flooded.shape[0], "y")[r0:r1 + 1], _cell_edges(tr, flooded.shape[1], "x")[c0:c1 + 1]
    oy = interval_overlaps(np.minimum(ye[:-1], ye[1:]), np.maximum(ye[:-1], ye[1:]), _cell_edges(ptr, pop.shape[0], "y"))
    ox = interval_overlaps(np.minimum(xe[:-1], xe[1:]), np.maximum(xe[:-1], xe[1:]), _cell_edges(ptr, pop.shape[1], "x"))
    keep_r, keep_c = np.flatnonzero(oy.getnnz(axis=0)), np.flatnonzero(ox.getnnz(axis=0))
    if keep_r.size == 0 or keep_c.size == 0:
        return 0.0
    oy, oxt = oy[:, keep_r].tocsr(), ox[:, keep_c].T.tocsr()
    # flooded area [CRS units^2] inside each population cell: Oy^T F Ox, by blocks of map rows (bounded memory)
    area = np.zeros((keep_r.size, keep_c.size))
    for b in range(0, r1 - r0, block_rows):
        window = flooded[r0 + b:min(r0 + b + block_rows, r1), c0:c1].astype(np.float64)
        area += oy[b:b + window.shape[0]].T @ (oxt @ window.T).T
    share = area / abs(ptr.a * ptr.e)
    return float(np.sum(pop[np.ix_(keep_r, keep_c)] * share))


def _people_other_crs(depth: xr.DataArray, flooded: np.ndarray, population: xr.DataArray, pop: np.ndarray,
                      chunk: int = 200_000) -> float:
    """People on a population grid of another CRS: each flooded map cell sampled at k x k points, each point taking
    its share of the map cell's true area times the people per m2 of the population cell under it (true areas on
    the ellipsoid, :func:`hydro.terrain.grid.grid_geometry`)."""
    from pyproj import CRS, Transformer

    from hydro.io.raster import grid_transform
    from hydro.terrain.grid import grid_geometry

    gm, gp = grid_geometry(depth), grid_geometry(population)
    density = pop / gp.area_m2[:, None]  # people per m2
    tr, ptr = grid_transform(depth), grid_transform(population)
    # k x k samples per map cell: at least 2, about 3 per population cell width, at most 8
    k = int(np.clip(np.ceil(3.0 * np.sqrt(np.median(gm.area_m2)) / np.sqrt(np.median(gp.area_m2))), 2, 8))
    off = (np.arange(k) + 0.5) / k
    tf = Transformer.from_crs(CRS.from_user_input(depth.rio.crs), CRS.from_user_input(population.rio.crs),
                              always_xy=True)
    ys, xs = np.nonzero(flooded)
    total = 0.0
    for s in range(0, ys.size, chunk):
        yy, xx = ys[s:s + chunk], xs[s:s + chunk]
        sx = (xx[:, None, None] + off[None, None, :]).repeat(k, axis=1)
        sy = (yy[:, None, None] + off[None, :, None]).repeat(k, axis=2)
        mx, my = tr * (sx.ravel(), sy.ravel())
        px, py = tf.transform(np.asarray(mx), np.asarray(my))
        row, col, inside = _cell_index(ptr, np.asarray(px), np.asarray(py), pop.shape)
        weight = np.repeat(gm.area_m2[yy] / (k * k), k * k)  # true area of each sample [m2]
        total += float(np.sum(density[row[inside], col[inside]] * weight[inside]))
    return total


def people_affected(depth: xr.DataArray, population: xr.DataArray, threshold_m: float = 0.1) -> float:
    """People living in flooded cells [persons], the people of each population cell spread uniformly over it.

    Same CRS: exact area overlaps of the two grids' cells (any resolutions and offsets: a population cell half
    under flooded cells counts half its people; a finer population grid is split where its cells straddle map
    cells). Another CRS (e.g. WorldPop in EPSG:4326 under a UTM map): each flooded cell sampled at k x k points
    (k = 2..8, about three per population cell) carrying their true (ellipsoidal) areas.

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
    flooded = _flooded(depth, threshold_m)
    if not flooded.any():
        return 0.0
    pop = np.nan_to_num(np.asarray(_yx(population, "population"), dtype=np.float64), nan=0.0)
    if np.any(pop < 0):
        raise InputDataError("exposure: negative population counts")
    if depth.rio.crs != population.rio.crs:
        return _people_other_crs(depth, flooded, population, pop)
    from hydro.io.raster import grid_transform

    return _people_same_crs(flooded, grid_transform(depth), pop, grid_transform(population))


def _piece_lengths_m(geo: Any, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """Lengths [m] of straight pieces given in the map's CRS: in the plane times the CRS's unit when its cells have
    their nominal size (``grid_geometry(...).planar``, e.g. UTM, feet grids), else geodesic on the ellipsoid
    (degree grids, Web Mercator). ``geo``: :func:`hydro.terrain.grid.grid_geometry` of the map."""
    from hydro.terrain.grid import _geod

    if geo.planar:
        unit = geo.crs.axis_info[0].unit_conversion_factor if geo.crs.axis_info else 1.0
        return np.hypot(x1 - x0, y1 - y0) * float(unit or 1.0)
    from pyproj import Transformer

    if geo.geographic:
        lon0, lat0, lon1, lat1 = x0, y0, x1, y1
    else:
        tf = Transformer.from_crs(geo.crs, geo.crs.geodetic_crs, always_xy=True)
        lon0, lat0 = tf.transform(x0, y0)
        lon1, lat1 = tf.transform(x1, y1)
    return np.asarray(_geod(geo.crs).inv(lon0, lat0, lon1, lat1)[2], dtype=np.float64)


def roads_affected_km(depth: xr.DataArray, roads: Sequence[Line], threshold_m: float = 0.1) -> float:
    """Length of road centrelines over flooded cells [km] (pieces of at most 1/20 cell: error below one piece per
    crossing); lengths in metres whatever the map's CRS (:func:`_piece_lengths_m`)."""
    flooded = _flooded(depth, threshold_m)
    if not flooded.any():
        return 0.0
    from hydro.io.raster import grid_transform
    from hydro.terrain.grid import grid_geometry

    tr = grid_transform(depth)  # of the coordinates: a stored GeoTransform is stale after coarsen() or a flip
    step = 0.05 * min(abs(tr.a), abs(tr.e))
    pieces: list[tuple[np.ndarray, ...]] = []
    for line in roads:
        pts = np.asarray(line, dtype=np.float64)
        xa, ya, xb, yb = pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1]
        n = np.maximum(np.ceil(np.hypot(xb - xa, yb - ya) / step).astype(np.int64), 1)
        seg = np.repeat(np.arange(n.size), n)
        i = np.arange(seg.size) - np.repeat(np.cumsum(n) - n, n)  # piece index within its segment
        f0, f1 = i / n[seg], (i + 1) / n[seg]
        dxs, dys = (xb - xa)[seg], (yb - ya)[seg]
        fm = 0.5 * (f0 + f1)
        row, col, inside = _cell_index(tr, xa[seg] + fm * dxs, ya[seg] + fm * dys, flooded.shape)
        wet = np.zeros(seg.size, bool)
        wet[inside] = flooded[row[inside], col[inside]]
        if wet.any():
            s = seg[wet]
            pieces.append((xa[s] + f0[wet] * dxs[wet], ya[s] + f0[wet] * dys[wet],
                           xa[s] + f1[wet] * dxs[wet], ya[s] + f1[wet] * dys[wet]))
    if not pieces:
        return 0.0
    ends = [np.concatenate(v) for v in zip(*pieces)]
    return float(np.sum(_piece_lengths_m(grid_geometry(depth), *ends))) / 1000.0


def read_roads(path: str | Path, crs: Any, *, max_bytes: int = 50 * 2**20) -> list[Line]:
    """Road centrelines of a GeoJSON file as lines in ``crs``.

    The file's CRS is the one it names (a ``crs_wkt`` member, as :func:`hydro.flood.products.extent_polygons` writes,
    or an old-style ``crs`` member ``{"type": "name", "properties": {"name": "EPSG:…"}}``); a file naming none is
    RFC 7946 lon/lat when every coordinate lies within ±180/±90, otherwise taken as already in ``crs``.
    """
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
    src = None
    named = doc.get("crs_wkt") if isinstance(doc, dict) else None
    if named is None and isinstance(doc, dict) and isinstance(doc.get("crs"), dict):
        named = (doc["crs"].get("properties") or {}).get("name")
    if named is not None:
        try:
            src = CRS.from_user_input(named)
        except Exception as exc:  # pyproj raises CRSError, or TypeError for a non-string
            raise InputDataError(f"{path}: cannot read the CRS it names ({str(named)[:80]!r}): {exc}") from exc
    else:
        allpts = np.concatenate(lines)
        if np.all(np.abs(allpts[:, 0]) <= 180) and np.all(np.abs(allpts[:, 1]) <= 90):
            src = CRS.from_epsg(4326)
    dst = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    if src is not None and not src.equals(dst, ignore_axis_order=True):
        tf = Transformer.from_crs(src, dst, always_xy=True)
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
