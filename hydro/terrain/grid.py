"""Cell geometry of a georeferenced grid: distances to neighbours and cell areas in metres."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from hydro.errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["GridGeometry", "grid_geometry", "SCALE_TOLERANCE", "interval_overlaps"]


#: largest relative difference between the true (ellipsoidal) and the projected cell area, width and height over a
#: projected grid for which the cell size is taken from the transform (cell areas then within 0.5 % of the truth)
SCALE_TOLERANCE = 0.005

#: relative spread of the true cell sizes along a row under which they are taken as depending on the row only
_ROW_CONSTANT_RTOL = 1e-6


@dataclass(frozen=True)
class GridGeometry:
    """Metric geometry of a north-up grid.

    Attributes
    ----------
    shape : tuple of int
        (ny, nx).
    transform : affine.Affine
        Cell-corner transform.
    crs : pyproj.CRS
    geographic : bool
        True for degree grids (cell sizes vary with latitude).
    dx_m : ndarray (ny,)
        East-west cell width per row [m].
    dy_m : float
        North-south cell height [m] (the mean over the rows when it varies, see ``dy_rows_m``).
    diag_m : ndarray (ny,)
        Distance to a diagonal neighbour per row [m].
    area_m2 : ndarray (ny,)
        Cell area per row [m2] (ellipsoidal on geographic grids).
    planar : bool
        True when every cell has the size given by the transform (``dx_m``, ``dy_m``, ``area_m2`` constant,
        distances measured in the plane of the CRS); False on geographic and scale-corrected projected grids.
    dy_rows_m : ndarray (ny,) or None
        North-south cell height per row [m] on scale-corrected projected grids (e.g. Web Mercator), else None.
    """

    shape: tuple[int, int]
    transform: Any
    crs: Any
    geographic: bool
    dx_m: np.ndarray
    dy_m: float
    diag_m: np.ndarray
    area_m2: np.ndarray
    planar: bool = True
    dy_rows_m: np.ndarray | None = None

    def cell_area_flat(self) -> np.ndarray:
        """Cell area [m2] of every cell, flat row-major float64."""
        return np.repeat(self.area_m2, self.shape[1])

    def d8_distances(self) -> tuple[np.ndarray, float, np.ndarray]:
        """Distances to the E/W, N/S and diagonal neighbours for the D8 kernel: ``(ew (ny,), ns, diag (ny,))`` [m].

        When the N-S height varies by row (``dy_rows_m``), each row's three distances are scaled by the same
        factor so that the N-S one is the scalar ``dy_m``: the steepest neighbour of a cell is unchanged.
        """
        if self.dy_rows_m is None:
            return self.dx_m, self.dy_m, self.diag_m
        f = self.dy_m / self.dy_rows_m
        return self.dx_m * f, self.dy_m, self.diag_m * f

    def ns_step_m(self) -> np.ndarray:
        """North-south cell height per row [m], (ny,) float64."""
        if self.dy_rows_m is not None:
            return np.asarray(self.dy_rows_m, np.float64)
        return np.full(self.shape[0], float(self.dy_m))

    def distance_m(self, x: float, y: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Distance [m] from the point ``(x, y)`` to the points ``(xs, ys)`` (CRS coordinates).

        Geodesic on the CRS's ellipsoid on geographic and scale-corrected projected grids, in the plane of the
        CRS (converted to metres) on planar grids.
        """
        xs = np.asarray(xs, np.float64)
        ys = np.asarray(ys, np.float64)
        if self.planar:
            unit = _unit_m(self.crs)
            return np.hypot(xs - x, ys - y) * unit
        geod = _geod(self.crs)
        px = np.concatenate([[float(x)], xs.ravel()])
        py = np.concatenate([[float(y)], ys.ravel()])
        if not self.geographic:
            from pyproj import Transformer

            tr = Transformer.from_crs(self.crs, self.crs.geodetic_crs, always_xy=True)
            px, py = (np.asarray(v, np.float64) for v in tr.transform(px, py))
        n = xs.size
        # at least two points: pyproj takes a 1-element array for a scalar (NumPy DeprecationWarning)
        m = max(n, 2)
        tx = np.resize(px[1:], m) if n else np.full(m, px[0])
        ty = np.resize(py[1:], m) if n else np.full(m, py[0])
        _, _, d = geod.inv(np.full(m, px[0]), np.full(m, py[0]), tx, ty)
        return np.asarray(d, np.float64)[:n].reshape(xs.shape)


def _unit_m(crs: Any) -> float:
    """Metres per unit of the CRS's first axis (1 when unknown)."""
    return float(crs.axis_info[0].unit_conversion_factor) if crs.axis_info else 1.0


def _geod(crs: Any) -> Any:
    from pyproj import Geod

    ell = crs.ellipsoid
    return Geod(ellps="WGS84") if ell is None else Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)


def _geodesic_cells(crs: Any, transform: Any, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """True size of the cells ``rows x cols`` of a projected grid, on the ellipsoid of the CRS's geodetic CRS:
    ``(area [m2], width [m], height [m])``, arrays of shape (len(rows), len(cols)), or None when the CRS cannot
    be inverted to longitude/latitude.

    The area is the geodesic polygon area of the cell's four corners; the width (height) is the geodesic distance
    between the middles of its west and east (north and south) edges.
    """
    from pyproj import Transformer

    try:
        geodetic = crs.geodetic_crs
        if geodetic is None:
            return None
        tr = Transformer.from_crs(crs, geodetic, always_xy=True)
        cc, rr = np.meshgrid(cols.astype(np.float64), rows.astype(np.float64))
        cc, rr = cc.ravel(), rr.ravel()

        def lonlat(col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lon, lat = tr.transform(transform.c + transform.a * col, transform.f + transform.e * row, errcheck=True)
            return np.asarray(lon, np.float64), np.asarray(lat, np.float64)

        corners = [lonlat(cc + dc, rr + dr) for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))]
        w_lon, w_lat = lonlat(cc, rr + 0.5)
        e_lon, e_lat = lonlat(cc + 1, rr + 0.5)
        n_lon, n_lat = lonlat(cc + 0.5, rr)
        s_lon, s_lat = lonlat(cc + 0.5, rr + 1)
    except Exception:  # CRSs without an inverse (pyproj.exceptions.ProjError and the like)
        return None
    geod = _geod(geodetic)
    _, _, width = geod.inv(w_lon, w_lat, e_lon, e_lat)
    _, _, height = geod.inv(n_lon, n_lat, s_lon, s_lat)
    area = np.empty(cc.size)
    for i in range(cc.size):
        area[i] = abs(geod.polygon_area_perimeter([c[0][i] for c in corners], [c[1][i] for c in corners])[0])
    out = tuple(np.asarray(v, np.float64).reshape(len(rows), len(cols)) for v in (area, width, height))
    if not all(np.isfinite(v).all() and (v > 0).all() for v in out):
        return None
    return out


def grid_geometry(da: xr.DataArray) -> GridGeometry:
    """Metric geometry of the grid of ``da`` (needs a CRS and a north-up transform).

    Rule for the cell sizes and areas:

    - **Geographic grids** (degrees): the E-W width of each row and the cell areas are computed on
      the CRS's ellipsoid with :class:`pyproj.Geod` (geodesic polygon areas).
    - **Projected grids**: the true size of sample cells (every row, or 1025 rows on very tall
      grids; first, middle and last column) is computed on the ellipsoid of the CRS's datum: the
      cell's corners are converted to longitude/latitude, its area is their geodesic polygon area
      and its width/height the geodesic distance across it. Then:

      * all true/projected ratios (area, width, height) within ``SCALE_TOLERANCE`` (0.5 %) of 1
        (UTM within its zone, local transverse Mercator or conformal national grids): the cell
        size is taken from the transform in the CRS's linear unit, converted to metres, and the
        area is dx * dy (distances in the projection's plane);
      * larger errors that depend on the row only (normal-aspect cylindrical projections such as
        Web Mercator EPSG:3857 or Mercator): the true width, height and area of each row are used
        (``planar`` False, ``dy_rows_m`` set; distances are geodesic). EPSG:3857 maps WGS84
        coordinates with spherical formulas: its cells are 0.7 % smaller than dx * dy on the
        equator, 0.25 x dx * dy at 60 degrees;
      * equal-area projections (area ratio within ``SCALE_TOLERANCE`` of 1, e.g. LAEA or
        Albers) whose linear scale varies along rows: area = dx * dy (true); slopes and D8 step
        lengths are measured in the projection's plane and carry its linear scale error;
      * any other projected grid (e.g. a UTM zone used far outside its 6 degrees) keeps
        area = dx * dy with a logged warning stating the size error: reproject to a local UTM
        zone or an equal-area CRS.

    CRSs that cannot be converted to longitude/latitude (e.g. local engineering CRSs) are taken
    as planar: area = dx * dy.

    Raises
    ------
    InputDataError
        The grid has no CRS, or a geographic CRS whose coordinates are not degrees of latitude within -90 to 90
        (e.g. a projected grid labelled EPSG:4326).
    """
    from pyproj import CRS

    crs = da.rio.crs
    if crs is None:
        raise InputDataError("grid has no CRS: cell sizes in metres cannot be computed")
    crs = CRS.from_wkt(crs.to_wkt())
    from hydro.io.raster import grid_transform

    transform = grid_transform(da)
    ny, nx = da.shape[-2:]
    a, e = transform.a, transform.e
    if crs.is_geographic:
        # the transform must be in degrees of latitude/longitude: a projected DEM given a geographic CRS (e.g.
        # crs="EPSG:4326" on a UTM file) or a CRS in grads gave NaN or wrong cell sizes, and then every cell a
        # made-up flat direction, NaN upstream areas and no streams, without an error
        unit = crs.axis_info[0] if crs.axis_info else None
        if unit is not None and not np.isclose(unit.unit_conversion_factor, np.pi / 180.0, rtol=1e-9, atol=0.0):
            raise InputDataError(
                f"geographic CRS {crs.name!r} has its coordinates in {unit.unit_name!r}, not degrees; reproject the "
                "grid to a CRS in degrees (e.g. EPSG:4326) or a projected CRS in metres"
            )
        lat_edges = (transform.f, transform.f + e * ny)
        if not (np.all(np.isfinite(lat_edges)) and -90.0 <= min(lat_edges) and max(lat_edges) <= 90.0):
            raise InputDataError(
                f"grid spans latitudes {min(lat_edges):g} to {max(lat_edges):g} in the geographic CRS {crs.name!r}, "
                "outside -90 to 90 degrees: its coordinates are not longitude/latitude (a projected grid with a wrong "
                "CRS?); assign the CRS the coordinates are in"
            )
        geod = _geod(crs)
        lat_top = transform.f + e * np.arange(ny)
        lat_bot = lat_top + e
        lat_mid = 0.5 * (lat_top + lat_bot)
        lon0 = transform.c
        _, _, dx = geod.inv(np.full(ny, lon0), lat_mid, np.full(ny, lon0 + a), lat_mid)
        _, _, dy_rows = geod.inv(np.full(ny, lon0), lat_top, np.full(ny, lon0), lat_bot)
        dy = float(np.mean(dy_rows))
        area = np.empty(ny)
        for r in range(ny):  # ny polygon areas: cheap, exact on the ellipsoid
            lons = [lon0, lon0 + a, lon0 + a, lon0]
            lats = [lat_bot[r], lat_bot[r], lat_top[r], lat_top[r]]
            area[r] = abs(geod.polygon_area_perimeter(lons, lats)[0])
        dx = np.asarray(dx, dtype=np.float64)
        diag = np.sqrt(dx * dx + dy * dy)
        return GridGeometry((ny, nx), transform, crs, True, dx, dy, diag, area, planar=False)

    unit = _unit_m(crs)
    dx = np.full(ny, abs(a) * unit)
    dy = abs(e) * unit
    area = dx * dy
    planar = GridGeometry((ny, nx), transform, crs, False, dx, float(dy), np.sqrt(dx * dx + dy * dy), area)
    if not crs.is_projected:
        return planar
    rows = np.unique(np.linspace(0, ny - 1, min(ny, 1025)).round().astype(np.int64))
    cols = np.unique(np.array([0, nx // 2, nx - 1], np.int64))
    cells = _geodesic_cells(crs, transform, rows, cols)
    if cells is None:
        return planar
    ratio_area, ratio_w, ratio_h = cells[0] / (dx[0] * dy), cells[1] / dx[0], cells[2] / dy
    err = max(float(np.max(np.abs(v - 1.0))) for v in (ratio_area, ratio_w, ratio_h))
    if err <= SCALE_TOLERANCE:
        return planar
    row_only = all(float(np.max(np.ptp(v, axis=1) / v.max(axis=1))) <= _ROW_CONSTANT_RTOL for v in cells)
    if row_only:
        area_r, dx_r, dy_r = (v[:, 0] for v in _geodesic_cells(crs, transform, np.arange(ny), np.array([0])))  # type: ignore[union-attr]
        return GridGeometry((ny, nx), transform, crs, False, dx_r, float(np.mean(dy_r)), np.sqrt(dx_r * dx_r + dy_r * dy_r),
                            area_r, planar=False, dy_rows_m=dy_r)
    if float(np.max(np.abs(ratio_area - 1.0))) <= SCALE_TOLERANCE:  # equal-area: dx * dy is the true area
        return planar
    lo = float(min(v.min() for v in (ratio_area, ratio_w, ratio_h)))
    hi = float(max(v.max() for v in (ratio_area, ratio_w, ratio_h)))
    # kept as before (dx * dy), loudly: e.g. a UTM zone used far outside its 6 degrees
    logger.warning(
        "CRS %s distorts cell sizes by up to %.1f %% over this grid (true / projected size %.4f to %.4f), more than "
        "%.1f %%, and not by row only: cell areas and lengths are taken from the transform and are off by that much; "
        "reproject the DEM to a local UTM zone or an equal-area CRS",
        crs.to_string(), 100 * err, lo, hi, 100 * SCALE_TOLERANCE,
    )
    return planar


def interval_overlaps(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> Any:
    """Sparse matrix ``(len(lo), len(edges) - 1)`` of the overlap lengths of the intervals ``[lo, hi]`` with the cells
    between consecutive ``edges`` (monotone, either direction; cell ``k`` lies between ``edges[k]`` and
    ``edges[k + 1]``)."""
    from scipy import sparse

    ascending = edges[-1] > edges[0]
    b = edges if ascending else edges[::-1]
    nb = b.size - 1
    first = np.clip(np.searchsorted(b, lo, side="right") - 1, 0, nb - 1)
    stop = np.clip(np.searchsorted(b, hi, side="left"), 0, nb)
    counts = np.maximum(stop - first, 0)
    rows = np.repeat(np.arange(lo.size), counts)
    j = first[rows] + (np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts))
    length = np.minimum(hi[rows], b[j + 1]) - np.maximum(lo[rows], b[j])
    keep = length > 0
    k = j if ascending else nb - 1 - j
    return sparse.csr_matrix((length[keep], (rows[keep], k[keep])), shape=(lo.size, nb))
