"""Review 23 (flood hazard / 2-D solver): defects found by hand cases; each test fails on the original code."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import simulate_2d
from hydro.io.raster import from_array


def make_grid(z, dx=1.0, crs="EPSG:32750", x0=500000.0, y0=9850000.0):
    """DataArray (y, x) of ``z`` on a north-up grid with square cells of ``dx`` m (copy of tests/flood/conftest)."""
    z = np.asarray(z, dtype=np.float32)
    return from_array(z, Affine(dx, 0.0, x0, 0.0, -dx, y0), crs)


def test_landuse_map_of_names_gives_the_debris_factor_of_each_name():
    # a lake at rest, 0.5 m on a flat closed 2 x 3 grid: no flow, v = 0 in every cell, d = 0.5 m every step.
    # FD2321: 0.25 < d <= 0.75 and v <= 2 -> DF = 1 urban, 0.5 woodland, 0 pasture;
    # HR = d (v + 0.5) + DF = 0.5 * 0.5 + DF = 1.25 / 0.75 / 0.25 (classes 2, 2, 1: 0.75 and 1.25 are moderate).
    # A map of names (as hydro.flood.hazard.debris_factor takes) raised a raw numpy UFuncNoLoopError before.
    bed = make_grid(np.zeros((2, 3)), dx=10.0)
    names = np.array([["urban", "woodland", "pasture"]] * 2)
    ds = simulate_2d(bed, 60.0, initial_depth=0.5, landuse=names).dataset
    assert np.allclose(ds["max_hazard_rating"].values, [[1.25, 0.75, 0.25]] * 2, rtol=0, atol=1e-6)
    assert ds["hazard_class"].values.tolist() == [[2, 2, 1]] * 2
    with pytest.raises(InputDataError, match="forest"):
        simulate_2d(bed, 60.0, initial_depth=0.5, landuse=np.array([["urban", "forest", "pasture"]] * 2))


def test_max_hazard_rating_includes_the_initial_state_like_max_depth():
    # 0.26 m at rest in the west column of a flat 2 x 3 urban grid (n = 0.03), dry elsewhere. At t = 0:
    # d = 0.26 > 0.25 -> DF = 1 (urban), v = 0 -> HR = 0.26 * 0.5 + 1 = 1.13 (class 2, moderate), and
    # max_flood_depth reports that 0.26 m. The first step (dt = 0.5 * 10 / sqrt(9.81 * 0.26) = 3.13 s) drains the
    # cell below 0.25 m (q = g dt h S = 9.81 * 3.13 * 0.26 * 0.026 = 0.21 m2/s -> -0.065 m): every later HR has
    # DF = 0 and is about 0.2, so the maximum must be the initial 1.13. It was 0.20, "low", with a max depth of
    # 0.26 m in an urban cell (HR >= 1.13 at that depth).
    bed = make_grid(np.zeros((2, 3)), dx=10.0)
    h0 = np.array([[0.26, 0.0, 0.0]] * 2)
    ds = simulate_2d(bed, 30.0, manning_n=0.03, initial_depth=h0, theta=1.0, landuse="urban").dataset
    assert np.allclose(ds["max_flood_depth"].values[:, 0], 0.26, rtol=1e-6)
    assert np.allclose(ds["max_hazard_rating"].values[:, 0], 0.26 * 0.5 + 1.0, rtol=1e-6)
    assert ds["hazard_class"].values[:, 0].tolist() == [2, 2]
    assert float(ds["flood_depth"].values[-1, 0, 0]) < 0.25  # the cell did drain below the debris threshold
