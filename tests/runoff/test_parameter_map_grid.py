"""Runoff parameter maps must land on the right cells of the model grid (review: transposed maps).

Before: only the number of values was checked, so an (x, y) map on a (y, x) grid of 30 x 36 cells was
raveled in the wrong order and 1050 of 1080 cells ran with another cell's X1, silently.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import ConfigError
from hydro.runoff import GRParameters


@pytest.fixture(scope="module")
def terrain():
    from hydro.datasets import balikpapan_dem
    from hydro.terrain import analyse

    return analyse(balikpapan_dem(resolution_m=1000.0), stream_threshold_m2=3.0e6)


def _x1_map(terrain):
    ny, nx = terrain.sizes["y"], terrain.sizes["x"]
    assert ny != nx
    values = np.linspace(100.0, 800.0, nx)[None, :].repeat(ny, 0)  # X1 grows eastwards
    return xr.DataArray(values, dims=("y", "x"), coords={"y": terrain.y, "x": terrain.x})


def test_labelled_map_in_x_y_order_is_put_on_the_y_x_grid(terrain):
    from hydro.model import CatchmentModel

    x1 = _x1_map(terrain)
    model = CatchmentModel(terrain, GRParameters(production_capacity_mm=x1.transpose("x", "y")), dt="1h")
    np.testing.assert_array_equal(model.runoff._x1, x1.values.ravel())
    # the (y, x) map, a flat map in (y, x) order and a single-band raster are unchanged
    for m in (x1, x1.values, x1.values.ravel(), x1.values[None]):
        model = CatchmentModel(terrain, GRParameters(production_capacity_mm=m), dt="1h")
        np.testing.assert_array_equal(model.runoff._x1, x1.values.ravel())


def test_unlabelled_map_with_another_shape_is_refused(terrain):
    from hydro.model import CatchmentModel

    x1 = _x1_map(terrain)
    with pytest.raises(ConfigError, match="production_capacity_mm.*shape \\(36, 30\\).*\\(30, 36\\)"):
        CatchmentModel(terrain, GRParameters(production_capacity_mm=x1.values.T.copy()), dt="1h")
    with pytest.raises(ConfigError, match="impervious_fraction"):
        CatchmentModel(terrain, GRParameters(impervious_fraction=np.zeros((2, x1.size // 2))), dt="1h")
