"""Review s23 (terrain, differential vs pyflwdir/pysheds): the D8 slope of a float64 drop of a few ulps of 0 m
underflowed to 0, so an epsilon-filled float64 DEM spilling at 0 m (sea level) kept interior cells without a
direction (code 0: water left the grid in the middle of the land). Each test fails on the original code."""
from __future__ import annotations

import numpy as np
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import hydro.terrain as T
from hydro.io.raster import from_array

DROW = np.array([0, 1, 1, 1, 0, -1, -1, -1])
DCOL = np.array([1, 1, 0, -1, -1, -1, 0, 1])


def _grid(z: np.ndarray, cell: float = 10.0) -> "object":
    """A float64 UTM DataArray of ``z`` (NaN = nodata), 10 m cells."""
    z = np.asarray(z, dtype=np.float64)
    return from_array(z, Affine(cell, 0, 500000.0, 0, -cell, 9850000.0 + cell * z.shape[0]), "EPSG:32750")


def _outlet_allowed(valid: np.ndarray) -> np.ndarray:
    """Cells allowed to carry code 0 in a filled DEM: valid cells on the grid edge or next to nodata."""
    pad = np.pad(valid, 1, constant_values=False)
    ny, nx = valid.shape
    all_nb = np.ones_like(valid)
    for k in range(8):
        all_nb &= pad[1 + DROW[k]:1 + DROW[k] + ny, 1 + DCOL[k]:1 + DCOL[k] + nx]
    return valid & ~all_nb


def test_epsilon_filled_float64_pit_at_0m_drains_to_its_spill_cell():
    # the centre (0 m) is a pit whose spill cell is the corner (0, 0) at 0 m: the epsilon fill raises it to
    # nextafter(0, inf) = 5e-324 m. Its only lower neighbour is the corner, to the NW (code 32); the drop
    # 5e-324 m over 14.14 m underflowed to a slope of 0.0 and the centre got code 0 (an interior outlet).
    z = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    filled = T.fill_depressions(_grid(z), epsilon=True)
    assert filled.values[1, 1] == np.nextafter(0.0, 1.0)
    fd = T.flow_direction(filled)
    assert fd.values[1, 1] == 32
    assert fd.attrs["unresolved_flat_cells"] == 0
    # every 1 m cell has the corner or the centre as a lower neighbour and the centre drains to the corner: the
    # corner collects all 9 cells (the centre as an outlet kept the cells draining through it from the corner)
    assert T.flow_accumulation(fd).values[0, 0] == 9.0


def test_epsilon_filled_float64_lagoon_at_sea_level_drains_by_steepest_descent():
    # a 0 m lagoon (rows 1-2, columns 1-2) opening to a 0 m sea on the west and north edges; land at 5 m.
    # Epsilon fill (flooded from (0,0)/(0,1)/(1,0)... at 0 m, FIFO): (1,1) = 1 ulp = 5e-324, (1,2), (2,1), (2,2)
    # = 2 ulps = 1e-323 (asserted below). Steepest descent, drop/distance, 10 m cells (diagonal 14.14 m):
    #   (1,1) 5e-324: lower W (1,0) 0 m at 10 m, NW (0,0)/N (0,1) 0 m -> N and W tie at 5e-324/10: first in
    #         ESRI order E,SE,S,SW,W,NW,N,NE is W = 16
    #   (1,2) 1e-323: W (1,1) 5e-324/10, NW (0,1) 1e-323/14.1, N (0,2) 1e-323/10 -> N = 64
    #   (2,1) 1e-323: W (2,0) 1e-323/10, NW (1,0) 1e-323/14.1, N (1,1) 5e-324/10 -> W = 16
    #   (2,2) 1e-323: only NW (1,1) is lower -> NW = 32
    # land and edge cells as in any DEM: (0,3),(1,3),(2,3) W = 16; (3,0),(3,1),(3,2) N = 64; (3,3) NW = 32;
    # edge cells with no lower neighbour 0.
    z = np.array([[0, 0, 0, 5, 5], [0, 0, 0, 5, 5], [0, 0, 0, 5, 5], [5, 5, 5, 5, 5]], dtype=np.float64)
    filled = T.fill_depressions(_grid(z), epsilon=True)
    u = np.nextafter(0.0, 1.0)
    np.testing.assert_array_equal(filled.values[1:3, 1:3], [[u, 2 * u], [2 * u, 2 * u]])
    fd = T.flow_direction(filled)
    expected = np.array([[0, 0, 0, 16, 0],
                         [0, 16, 64, 16, 0],
                         [0, 16, 32, 16, 0],
                         [64, 64, 64, 32, 0]], np.uint8)
    np.testing.assert_array_equal(fd.values, expected)
    assert fd.attrs["unresolved_flat_cells"] == 0
    # (0,2) collects itself, (0,3), (1,2) and (1,3) (-> (1,2) -> (0,2)): 4 cells
    assert T.flow_accumulation(fd).values[0, 2] == 4.0


@st.composite
def _dems(draw):
    """Random float64 DEMs, 5x5 to 30x30, integer elevations 0..6 (many flats, ties and pits at 0 m), nodata."""
    ny = draw(st.integers(5, 30))
    nx = draw(st.integers(5, 30))
    z = draw(arrays(np.float64, (ny, nx), elements=st.integers(0, 6).map(float)))
    share = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    z[rng.random((ny, nx)) < share] = np.nan
    if np.isnan(z).all():
        z[0, 0] = 1.0
    return z


@settings(max_examples=100, deadline=None, derandomize=True)
@given(_dems())
def test_epsilon_filled_float64_dem_has_outlets_only_on_edges_and_nodata(z):
    # documented: an epsilon fill leaves every filled cell a strictly lower neighbour, and D8 code 0 means the
    # cell drains off the grid or into nodata; so on an epsilon-filled DEM no cell needs flat resolution and
    # only cells on the grid edge or next to nodata may be outlets
    fd = T.flow_direction(T.fill_depressions(_grid(z), epsilon=True))
    valid = np.isfinite(z)
    assert fd.attrs["unresolved_flat_cells"] == 0
    assert fd.attrs["flat_cells_resolved"] == 0
    interior_outlets = (fd.values == 0) & ~_outlet_allowed(valid)
    assert not interior_outlets.any(), np.argwhere(interior_outlets)[:5]
