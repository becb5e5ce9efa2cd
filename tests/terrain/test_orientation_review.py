"""Grids flipped or reordered after reading, and float direction grids with NaN (review, 2026-12-06)."""
from __future__ import annotations

import numpy as np
import pytest

from hydro.errors import InputDataError
from hydro.flood import simulate_2d
from hydro.terrain import analyse, flow_network
from tests.flood.conftest import make_grid


def _dem():
    yy, xx = np.mgrid[0:6, 0:5]
    return make_grid((10.0 + 10.0 * yy + 0.1 * xx).astype(np.float32), dx=10.0)  # rises to the south


def test_flipped_dem_is_refused_not_read_with_a_stale_transform():
    dem = _dem()
    north_up = analyse(dem, stream_threshold_m2=200.0)
    assert north_up["flow_direction"].values[2, 2] == 64  # drains north
    flipped = dem.isel(y=slice(None, None, -1))  # the stored GeoTransform still says north-up
    with pytest.raises(InputDataError, match="orientation"):
        analyse(flipped, stream_threshold_m2=200.0)
    with pytest.raises(InputDataError, match="north to south"):
        simulate_2d(flipped, 60.0)


def test_float_direction_grid_with_nan_is_refused():
    fd = np.full((4, 4), 4.0)
    fd[1, 2] = np.nan
    da = make_grid(fd, dx=10.0)
    with pytest.raises(InputDataError, match="NaN"):
        flow_network(da)
    fd[1, 2] = 256.0
    with pytest.raises(InputDataError, match="not ESRI D8"):
        flow_network(make_grid(fd, dx=10.0))
    fd[1, 2] = 255.0
    assert not flow_network(make_grid(fd, dx=10.0)).valid[1 * 4 + 2]
