"""Small helpers for terrain tests: grids from arrays, independent D8 reference in plain numpy."""
from __future__ import annotations

import numpy as np
import xarray as xr
from affine import Affine

from hydro.io.raster import from_array

# ESRI order E, SE, S, SW, W, NW, N, NE
DROW = np.array([0, 1, 1, 1, 0, -1, -1, -1])
DCOL = np.array([1, 1, 0, -1, -1, -1, 0, 1])
CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128])


def grid(z: np.ndarray, cell: float = 10.0, crs: str = "EPSG:32750", x0: float = 500000.0, y0: float = 9850000.0) -> xr.DataArray:
    """A projected DataArray from an elevation array (NaN = nodata)."""
    z = np.asarray(z, dtype=np.float32)
    return from_array(z, Affine(cell, 0, x0, 0, -cell, y0 + cell * z.shape[0]), crs)


def follow(fdir: np.ndarray, r: int, c: int, max_steps: int = 10**6) -> list[tuple[int, int]]:
    """Cells visited from (r, c) following ESRI D8 codes until an outlet (code 0)."""
    path = [(r, c)]
    for _ in range(max_steps):
        code = int(fdir[r, c])
        if code == 0:
            return path
        k = int(np.log2(code))
        r, c = r + DROW[k], c + DCOL[k]
        path.append((r, c))
    raise AssertionError("path does not end: cycle")


def steepest_slopes(z: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Reference: max downslope gradient per cell and the slope towards each neighbour (numpy only)."""
    ny, nx = z.shape
    pad = np.pad(z.astype(np.float64), 1, constant_values=np.nan)
    slopes = np.full((8, ny, nx), -np.inf)
    for k in range(8):
        nb = pad[1 + DROW[k] : 1 + DROW[k] + ny, 1 + DCOL[k] : 1 + DCOL[k] + nx]
        d = dx * (np.sqrt(2) if DROW[k] and DCOL[k] else 1.0)
        s = (z - nb) / d
        slopes[k] = np.where(np.isnan(nb), -np.inf, s)
    return slopes.max(axis=0), slopes
