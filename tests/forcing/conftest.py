"""Fixtures: small synthetic CF forcing files and target grids."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr


def make_source(values, x, y, times, units="mm", crs="EPSG:32750", name="pr"):
    da = xr.DataArray(np.asarray(values, float), dims=("time", "y", "x"),
                      coords={"time": pd.DatetimeIndex(times), "y": y, "x": x}, name=name, attrs={"units": units})
    return da.rio.write_crs(crs)


def make_target(x, y, crs="EPSG:32750", mask=None):
    v = np.ones((len(y), len(x)), np.float32)
    if mask is not None:
        v[~mask] = np.nan
    return xr.DataArray(v, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(crs)


@pytest.fixture
def coarse_source():
    """4 × 3 cells of 10 km (UTM 50S), 6 hourly steps of random rain [mm per step]."""
    rng = np.random.default_rng(0)
    x = 500_000.0 + 5_000.0 + 10_000.0 * np.arange(4)
    y = 9_870_000.0 - 5_000.0 - 10_000.0 * np.arange(3)
    t = pd.date_range("2024-01-01 01:00", periods=6, freq="1h")
    return make_source(rng.gamma(0.8, 3.0, (6, 3, 4)), x, y, t)


@pytest.fixture
def write_nc(tmp_path):
    def write(da, name="forcing.nc"):
        p = tmp_path / name
        da.to_dataset().to_netcdf(p)
        return p
    return write
