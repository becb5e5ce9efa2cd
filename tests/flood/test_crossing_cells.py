"""Where a river enters a 2-D domain: the cells outside whose outflow crosses its edge (no rain counted twice)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from hydro.flood.example import crossing_cells, routed_back_cells

# ESRI D8 codes
E, SE, S, SW, W, NW, N, NE = 1, 2, 4, 8, 16, 32, 64, 128


def _terrain(codes: np.ndarray, dx: float = 10.0) -> xr.Dataset:
    ny, nx = codes.shape
    x = 1000.0 + dx * (np.arange(nx) + 0.5)
    y = 2000.0 - dx * (np.arange(ny) + 0.5)
    return xr.Dataset({"flow_direction": (("y", "x"), codes.astype(np.uint8))}, coords={"y": y, "x": x})


def test_river_along_the_edge_row_takes_only_the_water_from_outside():
    # 6 x 6 grid; the domain is rows 2..5. Water from the north (rows 0-1, outside) crosses into the domain's top
    # row, runs east along it to (2, 4), the entering point, and turns south into the plain; the plain cells
    # (3, 1..3) drain north into the edge row: their runoff is in the point cell's discharge, and in the 2-D rain.
    codes = np.full((6, 6), S, np.int64)
    codes[2, 1:4] = E          # along the edge row
    codes[3, 1:4] = N          # plain cells draining up into the river on the edge row
    codes[0, 3] = SE           # an outside cell crossing in at (1, 4)? it drains to (1, 4), still outside
    t = _terrain(codes)
    xs, ys = t["x"].values, t["y"].values
    bounds = (xs[0], ys[-1], xs[-1], ys[2])
    point = (float(xs[4]), float(ys[2]), 1e6)   # the river leaves the edge row at (2, 4) into the plain
    (cells,) = crossing_cells(t, bounds, [point])
    got = sorted((int(np.argmin(abs(ys - cy))), int(np.argmin(abs(xs - cx)))) for cx, cy in cells)
    # outside cells of row 1 whose outflow crosses into the edge row and reaches (2, 4): columns 1..4 (each drains
    # south into row 2; row 2 columns 1..3 run east to (2, 4)); column 0 drains to (2, 0) -> (3, 0): not this point,
    # column 5 drains to (2, 5) -> south: not this point
    assert got == [(1, 1), (1, 2), (1, 3), (1, 4)]
    # no plain cell leaves the plain and comes back: nothing is counted twice
    assert not routed_back_cells(t, bounds, [cells]).any()
    # without flow directions: the point itself
    assert crossing_cells(t.drop_vars("flow_direction"), bounds, [point]) == [[(point[0], point[1])]]


def test_a_path_that_leaves_and_crosses_back_in_is_counted_once():
    # column river: (0,2) outside -> (1,2) inside edge? Domain = rows 1..4, columns 0..2 (east edge at column 2).
    # (0, 2) drains S into (1, 2) [inside], which drains E out to (1, 3) [outside], which drains SW back into (2, 2)
    # [inside] -> S ... -> the entering point (4, 2). (1, 3) crosses in and holds (0, 2)'s water already.
    codes = np.full((6, 5), S, np.int64)
    codes[1, 2] = E
    codes[1, 3] = SW
    t = _terrain(codes)
    xs, ys = t["x"].values, t["y"].values
    bounds = (xs[0], ys[4], xs[2], ys[1])
    point = (float(xs[2]), float(ys[4]), 1e6)
    (cells,) = crossing_cells(t, bounds, [point])
    got = sorted((int(np.argmin(abs(ys - cy))), int(np.argmin(abs(xs - cx)))) for cx, cy in cells)
    assert got == [(1, 3)]
    # (1, 2) is a plain cell whose runoff leaves and comes back with the river: it is reported, not hidden
    back = routed_back_cells(t, bounds, [cells])
    assert back.sum() == 1 and back[1, 2]
