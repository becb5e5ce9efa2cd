"""Fixtures of the routing tests: hand-built row networks and a small synthetic catchment."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.io.raster import from_array
from hydro.terrain import flow_network

CRS = "EPSG:32750"


def row_network(n: int, dx: float, slope: float):
    """A single row of ``n`` cells draining east to an outlet at the last cell, bed ``slope``."""
    fd = np.full((1, n), 1, np.uint8)
    fd[0, -1] = 0
    fdir = from_array(fd, Affine(dx, 0, 500_000.0, 0, -dx, 9_850_000.0), CRS, name="flow_direction")
    z = (slope * dx * (n - np.arange(n))).reshape(1, n)
    return flow_network(fdir), z


@pytest.fixture
def make_row():
    return row_network


@pytest.fixture(scope="session")
def small_terrain():
    """Synthetic Balikpapan-like DEM at 600 m (60 x 50 cells) analysed by the terrain engine."""
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    dem = balikpapan_dem(resolution_m=600.0)
    return analyse(dem, stream_threshold_m2=2.0e6)
