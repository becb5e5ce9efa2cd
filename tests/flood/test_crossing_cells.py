"""Where a river enters a 2-D domain: the cells outside whose outflow crosses its edge (no rain counted twice)."""
from __future__ import annotations

import numpy as np
import pytest
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


def _walk(codes, r, c):
    """Cells downstream of (r, c), in order (brute force, ESRI D8)."""
    steps = {E: (0, 1), SE: (1, 1), S: (1, 0), SW: (1, -1), W: (0, -1), NW: (-1, -1), N: (-1, 0), NE: (-1, 1)}
    ny, nx = codes.shape
    out = []
    while int(codes[r, c]) in steps and len(out) <= ny * nx:
        dr, dc = steps[int(codes[r, c])]
        r, c = r + dr, c + dc
        if not (0 <= r < ny and 0 <= c < nx) or int(codes[r, c]) == 255:
            break
        out.append((r, c))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossing_and_routed_back_cells_match_a_brute_force_walk(seed):
    from tests.flood.conftest import make_grid
    from hydro.terrain import analyse

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:40, 0:40]
    z = 0.05 * (40 - yy) + 0.02 * np.abs(xx - 20) + rng.uniform(0, 0.6, (40, 40))
    t = analyse(make_grid(z, dx=10.0), stream_threshold_m2=2000.0)
    codes = np.nan_to_num(t["flow_direction"].values.astype(float), nan=255).astype(int)
    xs, ys = t["x"].values, t["y"].values
    r0, r1, c0, c1 = 12, 30, 8, 32
    bounds = (xs[c0], ys[r1], xs[c1], ys[r0])
    inside = np.zeros(codes.shape, bool)
    inside[r0:r1 + 1, c0:c1 + 1] = True
    # entering points: edge cells draining into the domain, with the largest upstream areas
    up = t["upstream_area"].values
    edge = [(r0, c) for c in range(c0, c1 + 1)] + [(r, c0) for r in range(r0, r1 + 1)] + [(r, c1) for r in range(r0, r1 + 1)]
    edge = [p for p in edge if (w := _walk(codes, *p)) and inside[w[0]]]
    edge = sorted(set(edge), key=lambda p: -up[p])[:3]
    points = [(float(xs[c]), float(ys[r]), float(up[r, c])) for r, c in edge]
    got = crossing_cells(t, bounds, points)
    # brute force: outside cells whose first step is inside; their first entering point downstream; dropped when a
    # crossing cell of theirs lies on the way
    first_pt = {}
    for r in range(40):
        for c in range(40):
            w = _walk(codes, r, c)
            if inside[r, c] or not w or not inside[w[0]]:
                continue
            hit = next((p for p in w if p in edge), None)
            if hit is not None:
                first_pt[(r, c)] = (hit, w[:w.index(hit)])
    expect = [[] for _ in edge]
    for cell, (hit, way) in sorted(first_pt.items()):
        if not any(p in first_pt for p in way):
            expect[edge.index(hit)].append((float(xs[cell[1]]), float(ys[cell[0]])))
    assert got == expect and sum(map(len, got)) > 0
    cross = {(int(np.argmin(abs(ys - y))), int(np.argmin(abs(xs - x)))) for cells in got for x, y in cells}
    back = routed_back_cells(t, bounds, got)
    for r in range(40):
        for c in range(40):
            w = _walk(codes, r, c)
            # the first outside cell whose next step is inside again (a re-entry) is a crossing cell
            re = next((w[i] for i in range(len(w) - 1) if not inside[w[i]] and inside[w[i + 1]]), None)
            assert back[r, c] == bool(inside[r, c] and re in cross), (r, c)
