"""Fixtures of the flood tests: georeferenced synthetic grids."""
from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from hydro.io.raster import from_array


def make_grid(z: np.ndarray, dx: float = 1.0, crs: str = "EPSG:32750", x0: float = 500000.0, y0: float = 9850000.0):
    """DataArray (y, x) of ``z`` on a north-up grid with square cells of ``dx`` m (UTM 50S by default)."""
    z = np.asarray(z, dtype=np.float32)
    return from_array(z, Affine(dx, 0.0, x0, 0.0, -dx, y0), crs)


@pytest.fixture
def grid():
    return make_grid
