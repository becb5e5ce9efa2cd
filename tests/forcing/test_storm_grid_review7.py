"""Review 7: design_storm(target_grid=) on a lat/lon grid (a NetCDF DEM), like the rest of hydro.forcing."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hydro.errors import ConfigError
from hydro.forcing import design_storm


def test_storm_on_a_lat_lon_grid():
    v = np.ones((2, 3))
    v[0, 2] = np.nan
    tg = xr.DataArray(v, dims=("lat", "lon"), coords={"lat": [-1.20, -1.21], "lon": [116.80, 116.81, 116.82]})
    h = design_storm(100.0, "1h", "30min", target_grid=tg)  # before: KeyError 'y'
    assert h.dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(h["lat"].values, [-1.20, -1.21])
    np.testing.assert_allclose(h.sum("time").values[np.isfinite(v)], 100.0, rtol=1e-12)
    assert np.isnan(h.values[:, 0, 2]).all()


def test_storm_on_a_y_x_grid_is_unchanged():
    tg = xr.DataArray(np.ones((2, 2)), dims=("y", "x"), coords={"y": [1.0, 0.0], "x": [0.0, 1.0]})
    h = design_storm(100.0, "1h", "30min", target_grid=tg)
    assert h.dims == ("time", "y", "x") and h.values.sum() == pytest.approx(400.0)


def test_a_grid_without_x_y_is_a_config_error():
    with pytest.raises(ConfigError, match="target_grid"):
        design_storm(100.0, "1h", "30min", target_grid=xr.DataArray(np.ones((2, 2)), dims=("a", "b")))
