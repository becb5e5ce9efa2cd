"""Cell geometry of a georeferenced grid: distances to neighbours and cell areas in metres."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from hydro.errors import InputDataError

__all__ = ["GridGeometry", "grid_geometry"]


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
        North-south cell height [m].
    diag_m : ndarray (ny,)
        Distance to a diagonal neighbour per row [m].
    area_m2 : ndarray (ny,)
        Cell area per row [m2] (ellipsoidal on geographic grids).
    """

    shape: tuple[int, int]
    transform: Any
    crs: Any
    geographic: bool
    dx_m: np.ndarray
    dy_m: float
    diag_m: np.ndarray
    area_m2: np.ndarray

    def cell_area_flat(self) -> np.ndarray:
        """Cell area [m2] of every cell, flat row-major float64."""
        return np.repeat(self.area_m2, self.shape[1])


def grid_geometry(da: xr.DataArray) -> GridGeometry:
    """Metric geometry of the grid of ``da`` (needs a CRS and a north-up transform).

    On projected grids the cell size is taken from the transform (assumed metres in the CRS's
    linear unit, converted when the unit is not the metre). On geographic grids the E-W width
    of each row and the cell areas are computed on the CRS's ellipsoid with :class:`pyproj.Geod`.
    """
    from pyproj import CRS, Geod

    crs = da.rio.crs
    if crs is None:
        raise InputDataError("grid has no CRS: cell sizes in metres cannot be computed")
    crs = CRS.from_wkt(crs.to_wkt())
    from hydro.io.raster import grid_transform

    transform = grid_transform(da)
    ny, nx = da.shape[-2:]
    a, e = transform.a, transform.e
    if crs.is_geographic:
        geod = Geod(ellps="WGS84") if crs.ellipsoid is None else Geod(
            a=crs.ellipsoid.semi_major_metre, b=crs.ellipsoid.semi_minor_metre
        )
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
    else:
        unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        dx = np.full(ny, abs(a) * unit)
        dy = abs(e) * unit
        area = dx * dy
    diag = np.sqrt(dx * dx + dy * dy)
    return GridGeometry((ny, nx), transform, crs, bool(crs.is_geographic), dx, float(dy), diag, area)
