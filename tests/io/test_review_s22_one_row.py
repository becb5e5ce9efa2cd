"""A grid of one row (or one column) of cells: the cell size across it is in no coordinate (session 22).

rioxarray then returned the identity transform (1 m cells at the origin whatever the coordinates said), so a 1 x 5
grid of 30 m UTM cells with no stored transform measured 1 m2 a cell in ``grid_geometry``: now refused. A sliced
grid (stored transform kept) gives the size from it and the origin from the coordinates (regression guards).
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import rioxarray  # noqa: F401  (registers .rio)
from hydro.errors import InputDataError
from hydro.io.raster import grid_transform
from hydro.terrain.grid import grid_geometry


def _grid(ny=4, nx=5, dx=30.0, x0=500000.0, y0=9000000.0):
    da = xr.DataArray(np.ones((ny, nx), np.float32), dims=("y", "x"),
                      coords={"y": y0 - dx / 2 - np.arange(ny) * dx, "x": x0 + dx / 2 + np.arange(nx) * dx})
    da = da.rio.write_crs("EPSG:32750")
    return da.rio.write_transform(da.rio.transform(recalc=True))


def test_one_row_of_a_sliced_grid():
    one = _grid().isel(y=[2])
    t = grid_transform(one)
    # row 2's centre is 9 000 000 - 2.5 x 30 = 8 999 925 m, its top edge 8 999 940 m; 30 m cells
    assert tuple(t)[:6] == (30.0, 0.0, 500000.0, 0.0, -30.0, 8999940.0)
    g = grid_geometry(one)
    assert g.dy_m == pytest.approx(30.0) and np.allclose(g.dx_m, 30.0) and np.allclose(g.area_m2, 900.0)


def test_one_column_of_a_sliced_grid():
    t = grid_transform(_grid().isel(x=[3]))
    # column 3's left edge 500 000 + 3 x 30 = 500 090 m; the top edge stays at 9 000 000 m
    assert tuple(t)[:6] == (30.0, 0.0, 500090.0, 0.0, -30.0, 9000000.0)


def test_one_row_without_stored_transform_refused():
    da = xr.DataArray(np.ones((1, 5), np.float32), dims=("y", "x"),
                      coords={"y": [1000.0], "x": np.arange(5) * 30.0 + 15.0}).rio.write_crs("EPSG:32750")
    with pytest.raises(InputDataError, match="1 x 5 cells without a stored north-up transform"):
        grid_geometry(da)
