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

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.size, self.x.size)


def cell_edges(c: np.ndarray, where: str) -> np.ndarray:
    """Cell edges of regularly spaced centres ``c`` (ascending or descending)."""
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        raise InputDataError(f"{where}: a single cell along an axis; cannot infer the cell size")
    d = np.diff(c)
    if np.any(d == 0) or not (np.all(d > 0) or np.all(d < 0)):
        raise InputDataError(f"{where}: coordinates are not strictly monotonic")
    if np.max(np.abs(d - d.mean())) > 1e-6 * abs(d.mean()):
        raise InputDataError(f"{where}: coordinates are not regularly spaced")
    step = d.mean()
    return np.concatenate([c - step / 2, [c[-1] + step / 2]])


def _coord_scale(da: xr.DataArray, dim: str) -> float:
    u = str(da[dim].attrs.get("units", "")).strip().lower()
    return 1000.0 if u in ("km", "kilometer", "kilometre", "kilometers", "kilometres") else 1.0


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
    x = np.asarray(da[xdim].values, dtype=np.float64) * _coord_scale(da, xdim)
    y = np.asarray(da[ydim].values, dtype=np.float64) * _coord_scale(da, ydim)
    return GridSpec(x, y, xdim, ydim, CRS.from_user_input(crs))


def _overlap_1d(tgt_edges: np.ndarray, src_edges: np.ndarray) -> sp.csr_matrix:
    """Fraction of each target interval covered by each source interval (rows target)."""
    t0, t1 = np.minimum(tgt_edges[:-1], tgt_edges[1:]), np.maximum(tgt_edges[:-1], tgt_edges[1:])
    s0, s1 = np.minimum(src_edges[:-1], src_edges[1:]), np.maximum(src_edges[:-1], src_edges[1:])
    ov = np.clip(np.minimum(t1[:, None], s1[None, :]) - np.maximum(t0[:, None], s0[None, :]), 0.0, None)
    return sp.csr_matrix(ov / (t1 - t0)[:, None])


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
    sx_e, sy_e = cell_edges(src.x, where + " x"), cell_edges(src.y, where + " y")
    same = src.crs == tgt.crs
    if method == "conservative":
        if same:
            wx = _overlap_1d(cell_edges(tgt.x, "target x"), sx_e)
            wy = _overlap_1d(cell_edges(tgt.y, "target y"), sy_e)
            W = sp.kron(wy, wx, format="csr")
        else:
            k = 5
            tx_e, ty_e = cell_edges(tgt.x, "target x"), cell_edges(tgt.y, "target y")
            fr = (np.arange(k) + 0.5) / k
            xs = (tx_e[:-1, None] + (tx_e[1:] - tx_e[:-1])[:, None] * fr[None, :]).ravel()
            ys = (ty_e[:-1, None] + (ty_e[1:] - ty_e[:-1])[:, None] * fr[None, :]).ravel()
            X, Y = np.meshgrid(xs, ys)
            tr = Transformer.from_crs(tgt.crs, src.crs, always_xy=True)
            sxp, syp = tr.transform(X.ravel(), Y.ravel())
            ix = _locate(np.asarray(sxp), sx_e)
            iy = _locate(np.asarray(syp), sy_e)
            ok = (ix >= 0) & (iy >= 0)
            ny, nx = tgt.shape
            rows_y = np.repeat(np.arange(ny), k)[:, None].repeat(nx * k, axis=1).ravel()
            rows_x = np.tile(np.repeat(np.arange(nx), k), ny * k)
            rows = rows_y * nx + rows_x
            cols = iy * src.x.size + ix
            W = sp.csr_matrix((np.full(ok.sum(), 1.0 / (k * k)), (rows[ok], cols[ok])),
                              shape=(ny * nx, src.x.size * src.y.size))
    elif method == "bilinear":
        X, Y = np.meshgrid(tgt.x, tgt.y)
        if same:
            px, py = X.ravel(), Y.ravel()
        else:
            px, py = transform_points(Transformer.from_crs(tgt.crs, src.crs, always_xy=True), X.ravel(), Y.ravel())
        fx = _frac_index(px, src.x)
        fy = _frac_index(py, src.y)
        outside = ~(np.isfinite(fx) & np.isfinite(fy))
        bad = outside & domain
        if bad.any():
            raise InputDataError(f"{where}: forcing does not cover the domain ({int(bad.sum())} target cell centres "
                                 f"outside the source cell centres; bilinear needs them inside)")
        fx, fy = np.where(outside, 0.0, fx), np.where(outside, 0.0, fy)  # cells off the domain: empty rows
        x0 = np.minimum(np.floor(fx).astype(np.int64), src.x.size - 2)
        y0 = np.minimum(np.floor(fy).astype(np.int64), src.y.size - 2)
        ax, ay = fx - x0, fy - y0
        n = px.size
        rows = np.repeat(np.arange(n), 4)
        cols = np.stack([y0 * src.x.size + x0, y0 * src.x.size + x0 + 1, (y0 + 1) * src.x.size + x0,
                         (y0 + 1) * src.x.size + x0 + 1], axis=1).ravel()
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
