"""Regridding weights (conservative area-weighted, bilinear) from a source grid to the DEM grid.

Weights are sparse matrices (n_target × n_source) applied per time chunk; same-CRS rectilinear grids
get exact overlap areas (separable 1-D overlaps), other CRSs a 5 × 5 supersampling of each target
cell (approximately conservative, documented).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import xarray as xr
from pyproj import CRS, Transformer

from hydro.errors import InputDataError

__all__ = ["GridSpec", "grid_of", "regrid_weights", "cell_edges"]

_XNAMES = ("x", "lon", "longitude", "E", "easting", "X")
_YNAMES = ("y", "lat", "latitude", "N", "northing", "Y")


def transform_points(transformer: Transformer, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays of any shape (incl. one point) with ``transformer``; arrays out.

    pyproj 3.7 takes a one-element array for a scalar (a NumPy deprecation that will become an error),
    so such inputs go through lists.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 1:
        a, b = transformer.transform(x.ravel().tolist(), y.ravel().tolist())
    else:
        a, b = transformer.transform(x, y)
    return np.reshape(np.asarray(a, dtype=np.float64), x.shape), np.reshape(np.asarray(b, dtype=np.float64), y.shape)


@dataclass
class GridSpec:
    """Rectilinear grid: centre coordinates (any order), edges, CRS and dim names."""

    x: np.ndarray
    y: np.ndarray
    xdim: str
    ydim: str
    crs: CRS
    #: machine epsilon of the stored coordinates (float32 ones are rounded to ~1e-5 degrees)
    coord_eps: float = float(np.finfo(np.float64).eps)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.size, self.x.size)


def cell_edges(c: np.ndarray, where: str, coord_eps: float = float(np.finfo(np.float64).eps)) -> np.ndarray:
    """Cell edges of regularly spaced centres ``c`` (ascending or descending), on the exact regular grid through the
    first and last centres (the rounding of stored coordinates does not move edges).

    ``coord_eps``: the machine epsilon of the stored coordinates (float32 for many satellite products): spacing
    irregularities within their rounding (``8 eps max|c|``, 7.6e-6 degrees at 116 E in float32) are accepted.
    """
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        raise InputDataError(f"{where}: a single cell along an axis; cannot infer the cell size")
    d = np.diff(c)
    if np.any(d == 0) or not (np.all(d > 0) or np.all(d < 0)):
        raise InputDataError(f"{where}: coordinates are not strictly monotonic")
    step = (c[-1] - c[0]) / (c.size - 1)
    tol = 1e-6 * abs(step) + 8.0 * coord_eps * float(np.max(np.abs(c)))
    if np.max(np.abs(d - step)) > tol:
        raise InputDataError(f"{where}: coordinates are not regularly spaced")
    return c[0] + step * (np.arange(c.size + 1) - 0.5)


def _coord_scale(da: xr.DataArray, dim: str, crs: CRS | None = None) -> float:
    """Factor from the coordinate's units to the CRS's units: km coordinates of a CRS in metres × 1000, of a CRS in
    km (e.g. ``+units=km``, as radar composites use) × 1."""
    u = str(da[dim].attrs.get("units", "")).strip().lower()
    if u not in ("km", "kilometer", "kilometre", "kilometers", "kilometres"):
        return 1.0
    crs_m = 1.0
    if crs is not None and crs.is_projected and crs.axis_info:
        crs_m = float(crs.axis_info[0].unit_conversion_factor or 1.0)  # metres per CRS unit
    return 1000.0 / crs_m


def grid_of(da: xr.DataArray, where: str, crs=None) -> GridSpec:
    """GridSpec of a (…, y, x) DataArray; CRS from ``crs``, rioxarray or lat/lon names (EPSG:4326)."""
    xdim = next((d for d in _XNAMES if d in da.dims), None)
    ydim = next((d for d in _YNAMES if d in da.dims), None)
    if xdim is None or ydim is None:
        raise InputDataError(f"{where}: no x/y (or lon/lat) dimensions in {da.dims}")
    if crs is None:
        try:
            crs = da.rio.crs
        except Exception:  # noqa: BLE001 - rioxarray raises several types on odd metadata
            crs = None
    if crs is None:
        if xdim in ("lon", "longitude") and ydim in ("lat", "latitude"):
            crs = "EPSG:4326"
        else:
            raise InputDataError(f"{where}: no CRS (no grid_mapping rioxarray can read); pass crs=")
    crs = CRS.from_user_input(crs)
    x = np.asarray(da[xdim].values, dtype=np.float64) * _coord_scale(da, xdim, crs)
    y = np.asarray(da[ydim].values, dtype=np.float64) * _coord_scale(da, ydim, crs)
    eps = max(float(np.finfo(da[d].dtype).eps) if np.issubdtype(da[d].dtype, np.floating) else 0.0
              for d in (xdim, ydim))
    return GridSpec(x, y, xdim, ydim, crs, coord_eps=max(eps, float(np.finfo(np.float64).eps)))


#: overlaps below this fraction of a target cell are rounding of coinciding edges, not area (a 1e-9 weight on the
#: neighbouring source cell made a coastal cell NaN from a sea cell, or "not covered" at the source's edge)
EDGE_ROUNDING = 1e-6


def _is_global_lon(src: GridSpec, sx_e: np.ndarray) -> bool:
    """True when a geographic source's longitudes go once around the globe (edges 360° apart, to a thousandth
    of a cell): its first and last columns are neighbours across the seam (0°/360° or ±180°)."""
    if not src.crs.is_geographic:
        return False
    step = abs(float(sx_e[-1] - sx_e[0])) / (sx_e.size - 1)
    return abs(abs(float(sx_e[-1] - sx_e[0])) - 360.0) <= 1e-3 * step


def _periodic(a: np.ndarray, edges: bool) -> tuple[np.ndarray, np.ndarray]:
    """A global longitude axis (edges or centres, either direction) continued by one turn west and east, and
    the source column of each cell of the continued axis."""
    a = np.asarray(a, dtype=np.float64)
    turn = 360.0 if a[-1] > a[0] else -360.0
    if edges:  # 3 n cells: one turn before, the axis itself, one turn after
        n = a.size - 1
        return np.concatenate([a[:-1] - turn, a[:-1], a[:-1] + turn, [a[-1] + turn]]), np.tile(np.arange(n), 3)
    n = a.size  # centres: the last column before the first, the first after the last
    return np.concatenate([[a[-1] - turn], a, [a[0] + turn]]), np.concatenate([[n - 1], np.arange(n), [0]])


def _edge_rounding(coord_eps: float, *edges: np.ndarray) -> float:
    """Fraction of a cell below which an overlap is rounding of coinciding edges: :data:`EDGE_ROUNDING`, or four
    roundings of the stored coordinates (``coord_eps`` × their magnitude) per smallest cell width if larger."""
    mag = max(float(np.max(np.abs(e))) for e in edges)
    width = min(float(np.min(np.abs(np.diff(e)))) for e in edges)
    return max(EDGE_ROUNDING, 4.0 * coord_eps * mag / width) if width > 0 else EDGE_ROUNDING


def _overlap_1d(tgt_edges: np.ndarray, src_edges: np.ndarray, periodic: bool = False,
                rounding: float = EDGE_ROUNDING) -> sp.csr_matrix:
    """Fraction of each target interval covered by each source interval (rows target); overlaps below
    ``rounding`` (:data:`EDGE_ROUNDING` by default) of the target interval dropped, and a row covered up to that
    rounding scaled to sum 1.

    ``periodic``: ``src_edges`` are the longitudes of a global grid, continued across its seam (a target interval
    on both sides of 0° for a 0…360 source, or of 180° for a −180…180 source, takes both end columns)."""
    from hydro.terrain.grid import interval_overlaps

    t0, t1 = np.minimum(tgt_edges[:-1], tgt_edges[1:]), np.maximum(tgt_edges[:-1], tgt_edges[1:])
    edges = np.asarray(src_edges, dtype=np.float64)
    if periodic:
        edges, cols = _periodic(edges, edges=True)
    frac = sp.diags(1.0 / (t1 - t0)) @ interval_overlaps(t0, t1, edges)
    if periodic:  # fold the continued columns back onto the source columns
        fold = sp.csr_matrix((np.ones(cols.size), (np.arange(cols.size), cols)), shape=(cols.size, src_edges.size - 1))
        frac = frac @ fold
    frac = frac.tocsr()
    frac.data[frac.data < rounding] = 0.0
    frac.eliminate_zeros()
    total = np.asarray(frac.sum(axis=1)).ravel()
    full = (total >= 1.0 - 2 * rounding) & (total > 0)
    scale = np.where(full, 1.0 / np.where(total > 0, total, 1.0), 1.0)
    return (sp.diags(scale) @ frac).tocsr()


def regrid_weights(src: GridSpec, tgt: GridSpec, method: str, where: str, mask: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse weights W (n_tgt × n_src, row-major cells); rows sum to 1 where covered.

    ``mask`` (n_tgt bool, row-major; default all True) marks the target cells of the model domain
    (e.g. the DEM's finite cells): only they must be covered, cells outside the domain may lie
    partly or wholly outside the source grid (their rows are then partial or empty).

    Raises InputDataError when a target cell of the domain is not (fully) covered by the source grid.
    """
    ny_t, nx_t = tgt.shape
    domain = np.ones(ny_t * nx_t, bool) if mask is None else np.asarray(mask, bool).ravel()
    if domain.size != ny_t * nx_t:
        raise InputDataError(f"{where}: domain mask has {domain.size} cells, the target grid {ny_t * nx_t}")
    sx_e, sy_e = cell_edges(src.x, where + " x", src.coord_eps), cell_edges(src.y, where + " y", src.coord_eps)
    # the x/y arrays are always (easting/longitude, northing/latitude): CRSs differing only in axis order (EPSG:4326,
    # OGC:CRS84, a CF latitude_longitude grid mapping) are the same grid, with exact overlaps
    same = src.crs == tgt.crs or src.crs.equals(tgt.crs, ignore_axis_order=True)
    # longitudes: a 0…360 source and a −180…180 target (or the reverse) describe the same places
    wrap_lo = float(sx_e.min()) if src.crs.is_geographic and np.ptp(sx_e) <= 360.0 + 1e-6 else None
    # a global source has no west or east edge: a domain across its seam (0° for 0…360, 180° for −180…180) is covered
    periodic = _is_global_lon(src, sx_e)
    tgt_x = tgt.x
    if same and wrap_lo is not None and not periodic:
        tgt_x = tgt.x + _lon_shift(cell_edges(tgt.x, "target x", tgt.coord_eps), sx_e, domain.reshape(ny_t, nx_t).any(axis=0))
    if method == "conservative":
        if same:
            tx_e, ty_e = cell_edges(tgt_x, "target x", tgt.coord_eps), cell_edges(tgt.y, "target y", tgt.coord_eps)
            # coinciding edges of float32 coordinates (satellite products) differ by their rounding, ~1e-4 of a cell:
            # overlaps of that size are rounding too (the domain at the source's outer edge was "not covered")
            eps = max(src.coord_eps, tgt.coord_eps)
            wx = _overlap_1d(tx_e, sx_e, periodic=periodic, rounding=_edge_rounding(eps, tx_e, sx_e))
            ry = _edge_rounding(eps, ty_e, sy_e)
            sy_a = sy_e
            if src.crs.is_geographic:  # a lat/lon cell's area is Δλ × Δq(φ), not Δλ × Δφ
                ty_e, sy_a = _area_latitude(ty_e, src.crs), _area_latitude(sy_e, src.crs)
            wy = _overlap_1d(ty_e, sy_a, rounding=ry)
            W = sp.kron(wy, wx, format="csr")
        else:
            W = _supersampled_weights(src, tgt, sx_e, sy_e, domain, wrap_lo, periodic)
    elif method == "bilinear":
        X, Y = np.meshgrid(tgt_x, tgt.y)
        if same:
            px, py = X.ravel(), Y.ravel()
            if periodic:
                px = _wrap_lon(px, wrap_lo)
        else:
            px, py = transform_points(Transformer.from_crs(tgt.crs, src.crs, always_xy=True), X.ravel(), Y.ravel())
            if wrap_lo is not None:
                px = _wrap_lon(px, wrap_lo)
        # a global source: between its last and first columns (across the seam) is inside too
        cx, xcols = _periodic(src.x, edges=False) if periodic else (src.x, np.arange(src.x.size))
        fx = _frac_index(px, cx)
        fy = _frac_index(py, src.y)
        outside = ~(np.isfinite(fx) & np.isfinite(fy))
        bad = outside & domain
        if bad.any():
            raise InputDataError(f"{where}: forcing does not cover the domain ({int(bad.sum())} target cell centres "
                                 f"outside the source cell centres; bilinear needs them inside)")
        fx, fy = np.where(outside, 0.0, fx), np.where(outside, 0.0, fy)  # cells off the domain: empty rows
        x0 = np.minimum(np.floor(fx).astype(np.int64), cx.size - 2)
        y0 = np.minimum(np.floor(fy).astype(np.int64), src.y.size - 2)
        ax, ay = fx - x0, fy - y0
        c0, c1 = xcols[x0], xcols[x0 + 1]
        n = px.size
        rows = np.repeat(np.arange(n), 4)
        cols = np.stack([y0 * src.x.size + c0, y0 * src.x.size + c1, (y0 + 1) * src.x.size + c0,
                         (y0 + 1) * src.x.size + c1], axis=1).ravel()
        vals = np.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], axis=1)
        vals = np.where(outside[:, None], 0.0, vals).ravel()
        W = sp.csr_matrix((vals, (rows, cols)), shape=(n, src.x.size * src.y.size))
        W.eliminate_zeros()
        return W
    else:
        raise InputDataError(f"{where}: regridding method {method!r}: expected 'conservative' or 'bilinear'")
    cover = np.asarray(W.sum(axis=1)).ravel()
    bad = (cover < 1.0 - 1e-9) & domain
    if bad.any():
        raise InputDataError(f"{where}: forcing does not cover the domain ({int(bad.sum())} of {int(domain.sum())} "
                             f"domain cells not fully inside the forcing grid)")
    return W


def _area_latitude(lat_deg: np.ndarray, crs: CRS) -> np.ndarray:
    """Latitudes [degrees] mapped to a coordinate in which lat/lon cell areas are separable: the area of the zone
    from the equator to φ per radian of longitude over a², ``q(φ)/2`` of the ellipsoid (``sin φ`` on a sphere).
    A cell's area is ``a² Δλ Δ(q/2)``, so overlaps along it are fractions of area (a degree of latitude holds
    less area towards the poles). Latitudes beyond ±90 (edges of polar rows) are clipped."""
    s = np.sin(np.deg2rad(np.clip(np.asarray(lat_deg, dtype=np.float64), -90.0, 90.0)))
    ell = crs.ellipsoid
    e2 = 0.0 if ell is None else 1.0 - (float(ell.semi_minor_metre) / float(ell.semi_major_metre)) ** 2
    if e2 <= 1e-12:
        return s
    e = np.sqrt(e2)
    return 0.5 * (1.0 - e2) * (s / (1.0 - e2 * s * s) + np.log((1.0 + e * s) / (1.0 - e * s)) / (2.0 * e))


def _wrap_lon(lon: np.ndarray, lo: float) -> np.ndarray:
    """Longitudes moved by multiples of 360° into [lo, lo + 360) (NaN/inf stay)."""
    lon = np.asarray(lon, dtype=np.float64)
    return np.where(np.isfinite(lon), lo + np.mod(lon - lo, 360.0), lon)


def _lon_shift(tgt_edges: np.ndarray, src_edges: np.ndarray, cols: np.ndarray) -> float:
    """0, −360 or +360: the shift of a geographic target's longitudes that puts most of its domain
    columns ``cols`` inside the source's longitude range (0 on ties)."""
    lo, hi = float(src_edges.min()), float(src_edges.max())
    a, b = np.minimum(tgt_edges[:-1], tgt_edges[1:])[cols], np.maximum(tgt_edges[:-1], tgt_edges[1:])[cols]
    best, best_n = 0.0, -1
    for shift in (0.0, -360.0, 360.0):
        n = int(np.sum((a + shift >= lo - 1e-9) & (b + shift <= hi + 1e-9)))
        if n > best_n:
            best, best_n = shift, n
    return best


#: samples per source cell width along each axis for cross-CRS conservative weights (at least 5 × 5
#: samples per target cell), and the cap on the total number of samples
SAMPLES_PER_SOURCE_CELL = 4
MAX_SAMPLES = 40_000_000


def _supersampling_factor(src: GridSpec, tgt: GridSpec, tx_e: np.ndarray, ty_e: np.ndarray,
                          tr: Transformer, n_cells: int) -> int:
    """k for k × k samples per target cell: at least 5 and ``SAMPLES_PER_SOURCE_CELL`` per source cell
    width across the largest target cell (a target cell much larger than the source cells is otherwise
    represented by a few source cells only and the volume is not kept)."""
    iy = np.unique(np.linspace(0, ty_e.size - 2, min(ty_e.size - 1, 15)).round().astype(int))
    ix = np.unique(np.linspace(0, tx_e.size - 2, min(tx_e.size - 1, 15)).round().astype(int))
    J, I = np.meshgrid(iy, ix, indexing="ij")
    cx = np.stack([tx_e[I], tx_e[I + 1], tx_e[I], tx_e[I + 1]])
    cy = np.stack([ty_e[J], ty_e[J], ty_e[J + 1], ty_e[J + 1]])
    px, py = transform_points(tr, cx, cy)
    ext = np.maximum(np.nanmax(px, axis=0) - np.nanmin(px, axis=0), 0.0) / abs(float(src.x[1] - src.x[0]))
    ext = np.maximum(ext, (np.nanmax(py, axis=0) - np.nanmin(py, axis=0)) / abs(float(src.y[1] - src.y[0])))
    ratio = float(np.nanmax(ext)) if np.isfinite(ext).any() else 1.0
    k = max(5, int(np.ceil(SAMPLES_PER_SOURCE_CELL * ratio)))
    kmax = max(5, int(np.sqrt(MAX_SAMPLES / max(n_cells, 1))))
    return min(k, kmax)


def _supersampled_weights(src: GridSpec, tgt: GridSpec, sx_e: np.ndarray, sy_e: np.ndarray,
                          domain: np.ndarray, wrap_lo: float | None, periodic: bool = False) -> sp.csr_matrix:
    """Approximately conservative weights across CRSs: each target cell is sampled with k × k points
    (projected into the source CRS), each weighing 1/k² of the cell. Built in blocks of target rows;
    only the domain's cells are sampled. ``periodic``: the source's longitudes go around the globe (samples
    across its seam fall in its first or last column)."""
    ny, nx = tgt.shape
    xe, xcols = _periodic(sx_e, edges=True) if periodic else (sx_e, np.arange(sx_e.size - 1))
    tx_e, ty_e = cell_edges(tgt.x, "target x", tgt.coord_eps), cell_edges(tgt.y, "target y", tgt.coord_eps)
    tr = Transformer.from_crs(tgt.crs, src.crs, always_xy=True)
    k = _supersampling_factor(src, tgt, tx_e, ty_e, tr, int(domain.sum()))
    fr = (np.arange(k) + 0.5) / k
    xs = (tx_e[:-1, None] + (tx_e[1:] - tx_e[:-1])[:, None] * fr[None, :]).ravel()  # nx*k
    dom = domain.reshape(ny, nx)
    rows_all, cols_all = [], []
    block = max(1, int(4_000_000 // max(nx * k * k, 1)))
    for r0 in range(0, ny, block):
        r1 = min(ny, r0 + block)
        ys = (ty_e[r0:r1, None] + (ty_e[r0 + 1:r1 + 1] - ty_e[r0:r1])[:, None] * fr[None, :]).ravel()
        X, Y = np.meshgrid(xs, ys)
        cell_r = np.repeat(np.arange(r0, r1), k)[:, None].repeat(nx * k, axis=1)
        cell_c = np.broadcast_to(np.repeat(np.arange(nx), k)[None, :], X.shape)
        keep = dom[cell_r, cell_c]
        if not keep.any():
            continue
        sxp, syp = transform_points(tr, X[keep], Y[keep])
        if wrap_lo is not None:
            sxp = _wrap_lon(sxp, wrap_lo)
        ix, iy = _locate(sxp, xe), _locate(syp, sy_e)
        ix = np.where(ix >= 0, xcols[np.maximum(ix, 0)], -1)
        ok = (ix >= 0) & (iy >= 0)
        rows_all.append((cell_r[keep] * nx + cell_c[keep])[ok])
        cols_all.append((iy * src.x.size + ix)[ok])
    rows = np.concatenate(rows_all) if rows_all else np.zeros(0, np.int64)
    cols = np.concatenate(cols_all) if cols_all else np.zeros(0, np.int64)
    W = sp.csr_matrix((np.full(rows.size, 1.0 / (k * k)), (rows, cols)), shape=(ny * nx, src.x.size * src.y.size))
    W.sum_duplicates()
    return W


def _locate(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    asc = edges[-1] > edges[0]
    e = edges if asc else edges[::-1]
    i = np.searchsorted(e, p, side="right") - 1
    i = np.where((p < e[0]) | (p >= e[-1]) | ~np.isfinite(p), -1, i)
    if not asc:
        i = np.where(i >= 0, edges.size - 2 - i, -1)
    return i


def _frac_index(p: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Fractional index of p along centres (NaN outside [first, last] centre)."""
    idx = np.arange(centres.size, dtype=np.float64)
    if centres[-1] < centres[0]:
        centres, idx = centres[::-1], idx[::-1]
    f = np.interp(p, centres, idx)
    tol = 1e-9 * abs(centres[-1] - centres[0])
    return np.where((p < centres[0] - tol) | (p > centres[-1] + tol), np.nan, f)
