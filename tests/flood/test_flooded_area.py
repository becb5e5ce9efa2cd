"""Flooded area from an extent mask uses the true cell areas of the grid (hydro.flood.flooded_area_km2)."""
from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from hydro.errors import InputDataError
from hydro.flood import flooded_area_km2


def _grid(crs: str, x0: float, y0: float, d: float, ny: int = 4, nx: int = 5) -> xr.DataArray:
    x = x0 + d * (np.arange(nx) + 0.5)
    y = y0 - d * (np.arange(ny) + 0.5)
    da = xr.DataArray(np.zeros((ny, nx), np.float32), dims=("y", "x"), coords={"y": y, "x": x})
    return da.rio.write_crs(crs).rio.write_transform(Affine(d, 0, x0, 0, -d, y0))


def test_utm_area_is_count_times_dx_dy():
    da = _grid("EPSG:32750", 500000.0, 9870000.0, 30.0)  # UTM 50S near Balikpapan
    mask = np.zeros(da.shape, bool)
    mask[1, 1:4] = True
    mask[3, 0] = True
    assert flooded_area_km2(mask, da) == pytest.approx(4 * 900.0 / 1e6, rel=1e-12)


def test_feet_grid_converted_to_metres():
    # NAD83 / Texas North Central (ftUS): 100 ft cells are 929.03 m2, not 1e4 "m2"
    da = _grid("EPSG:2276", 2.3e6, 7.0e6, 100.0)
    mask = np.ones(da.shape, bool)
    ft = 1200.0 / 3937.0
    assert flooded_area_km2(mask, da) == pytest.approx(da.size * (100 * ft) ** 2 / 1e6, rel=1e-6)


def test_web_mercator_uses_true_areas():
    # at ~60 degrees N, a Web Mercator cell is about a quarter of dx * dy
    da = _grid("EPSG:3857", 1.0e6, 8.4e6, 100.0)
    mask = np.ones(da.shape, bool)
    naive = da.size * 1e4 / 1e6
    got = flooded_area_km2(mask, da)
    lat = np.degrees(2 * np.arctan(np.exp(8.4e6 / 6378137.0)) - np.pi / 2)
    assert got == pytest.approx(naive * np.cos(np.radians(lat)) ** 2, rel=0.01)


def test_shape_mismatch_is_an_error():
    da = _grid("EPSG:32750", 500000.0, 9870000.0, 30.0)
    with pytest.raises(InputDataError, match="differ"):
        flooded_area_km2(np.ones((3, 3), bool), da)
