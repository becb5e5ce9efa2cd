"""Review 7: station coordinates that are not valid in ``station_crs`` are an error (they gave an all-NaN grid,
or a station silently without weight)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr
from pyproj import Transformer

from hydro.errors import InputDataError
from hydro.forcing import stations_to_grid

X = 490_500.0 + 1000.0 * np.arange(3)
Y = 9_868_500.0 - 1000.0 * np.arange(3)


@pytest.fixture
def grid():
    return xr.DataArray(np.ones((3, 3)), dims=("y", "x"), coords={"y": Y, "x": X}).rio.write_crs("EPSG:32750")


@pytest.fixture
def rain(tmp_path):
    p = tmp_path / "rain.csv"
    pd.DataFrame({"date": ["2024-01-01 01:00", "2024-01-01 02:00"], "A": [10.0, np.nan], "B": [0.0, np.nan],
                  "C": [5.0, 7.0]}).to_csv(p, index=False)
    return p


def _lonlat(x, y):
    return Transformer.from_crs("EPSG:32750", "EPSG:4326", always_xy=True).transform(x, y)


def _stations(tmp_path, xs, ys):
    p = tmp_path / "stations.csv"
    pd.DataFrame({"id": ["A", "B", "C"], "x": xs, "y": ys}).to_csv(p, index=False)
    return p


def test_valid_lonlat_and_projected_stations_agree(tmp_path, grid, rain):
    lon, lat = _lonlat(np.array([X[0], X[2], X[1]]), np.array([Y[0], Y[2], Y[1]]))
    a = stations_to_grid(rain, _stations(tmp_path, lon, lat), grid)
    b = stations_to_grid(rain, _stations(tmp_path, [X[0], X[2], X[1]], [Y[0], Y[2], Y[1]]), grid,
                         station_crs="EPSG:32750")
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-9)
    assert a.values[0, 0, 0] == pytest.approx(10.0) and a.values[1].tolist() == [[7.0] * 3] * 3


def test_projected_metres_read_as_lonlat_are_an_error(tmp_path, grid, rain):
    # before: every cell NaN (RuntimeWarning only)
    with pytest.raises(InputDataError, match="station_crs"):
        stations_to_grid(rain, _stations(tmp_path, [X[0], X[2], X[1]], [Y[0], Y[2], Y[1]]), grid)


def test_swapped_lat_lon_is_an_error(tmp_path, grid, rain):
    lon, lat = _lonlat(np.array([X[0], X[2], X[1]]), np.array([Y[0], Y[2], Y[1]]))
    with pytest.raises(InputDataError, match=r"\['A', 'B', 'C'\]"):
        stations_to_grid(rain, _stations(tmp_path, lat, lon), grid)


def test_one_station_with_an_impossible_latitude_is_an_error(tmp_path, grid, rain):
    # before: station C (lat 116.8 typed for the longitude) got no weight; at 02:00, when only C reported,
    # the whole grid was NaN
    lon, lat = _lonlat(np.array([X[0], X[2], X[1]]), np.array([Y[0], Y[2], Y[1]]))
    lat = np.array(lat)
    lat[2] = lon[2]
    with pytest.raises(InputDataError, match=r"\['C'\]"):
        stations_to_grid(rain, _stations(tmp_path, lon, lat), grid)
