"""Review 7: positive missing-value codes (BMKG 8888 'not measured', 9999 'no data') are not read as rain."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

from hydro.errors import InputDataError
from hydro.forcing import stations_to_grid


@pytest.fixture
def setup(tmp_path):
    grid = xr.DataArray(np.ones((2, 2)), dims=("y", "x"),
                        coords={"y": [9_868_500.0, 9_867_500.0], "x": [490_500.0, 491_500.0]}).rio.write_crs("EPSG:32750")
    st = tmp_path / "stations.csv"
    pd.DataFrame({"id": ["SEPINGGAN", "AMPAL"], "x": [490_500.0, 491_500.0], "y": [9_868_500.0, 9_867_500.0]}).to_csv(
        st, index=False)
    return grid, st


@pytest.mark.parametrize("code", [8888.0, 9999.0])
@pytest.mark.parametrize("freq", ["1D", "1h"])
def test_bmkg_missing_codes_are_errors(tmp_path, setup, code, freq):
    grid, st = setup
    rain = tmp_path / "rain.csv"
    t = pd.date_range("2024-01-05", periods=3, freq=freq)
    pd.DataFrame({"date": t.strftime("%Y-%m-%d %H:%M"), "SEPINGGAN": [12.0, code, 3.0],
                  "AMPAL": [10.0, 4.0, 2.0]}).to_csv(rain, index=False)
    # before: a cell on SEPINGGAN got 8888 (9999) mm
    with pytest.raises(InputDataError, match=r"SEPINGGAN.*missing-value code"):
        stations_to_grid(rain, st, grid, station_crs="EPSG:32750")


def test_heavy_but_possible_rain_passes(tmp_path, setup):
    grid, st = setup
    rain = tmp_path / "rain.csv"
    # 190 mm in one day (25 Aug 2022), 120 mm in one hour: heavy, possible
    pd.DataFrame({"date": ["2024-01-05", "2024-01-06"], "SEPINGGAN": [190.0, 0.0], "AMPAL": [150.0, 1.0]}).to_csv(
        rain, index=False)
    out = stations_to_grid(rain, st, grid, station_crs="EPSG:32750")
    assert out.values[0, 0, 0] == 190.0
    pd.DataFrame({"date": ["2024-01-05 01:00", "2024-01-05 02:00"], "SEPINGGAN": [120.0, 0.0],
                  "AMPAL": [80.0, 1.0]}).to_csv(rain, index=False)
    assert stations_to_grid(rain, st, grid, station_crs="EPSG:32750").values[0, 0, 0] == 120.0
