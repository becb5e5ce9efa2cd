"""Review 23 (design storms and station forcing): defects found by hand, each test fails on the original code."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401 - registers .rio
import xarray as xr

from hydro.errors import ConfigError, InputDataError
from hydro.forcing import design_storm, station_weights, stations_to_grid

# ---------------------------------------------------------------------------------------------- design storms


def test_nan_or_inf_in_the_depth_duration_table_is_a_config_error():
    # before: design_storm returned [50, nan, nan] (a NaN storm) without a word, and an inf duration [0, 50, 0]
    with pytest.raises(ConfigError, match="finite"):
        design_storm(None, "3h", "1h", idf={1: 50.0, 2: float("nan"), 3: 90.0})
    with pytest.raises(ConfigError, match="finite"):
        design_storm(None, "3h", "1h", idf=pd.DataFrame({"duration_h": [1, 3], "depth_mm": [50.0, np.nan]}))
    with pytest.raises(ConfigError, match="finite"):
        design_storm(None, "3h", "1h", idf={1: 50.0, math.inf: 90.0})


def test_table_with_string_durations_is_sorted_as_numbers():
    # a TOML table's keys are strings; "12" sorted before "2" and the valid table was refused as "depth decreasing"
    h = design_storm(None, "3h", "1h", idf={"1": 50.0, "12": 120.0, "2": 65.0}).values
    # D(3 h) on the log-log segment 2 h (65 mm) .. 12 h (120 mm): slope ln(120/65)/ln(6) = 0.342180;
    # 65 * 1.5**0.342180 = 74.6738 mm; increments 50 (1 h), 15 (2 h - 1 h), 9.6738 (3 h - 2 h)
    slope = math.log(120.0 / 65.0) / math.log(6.0)
    d3 = 65.0 * 1.5 ** slope
    np.testing.assert_allclose(h, [d3 - 65.0, 50.0, 15.0], rtol=1e-12)  # peak in the middle, 2nd right, 3rd left
    assert h.sum() == pytest.approx(74.6738056, rel=1e-8)


def test_table_given_as_a_mapping_of_columns():
    # the documented table with duration_h and intensity_mm_h, written as a dict of columns: before a raw
    # ValueError ("could not convert string to float: 'duration_h'")
    h = design_storm(None, "3h", "1h", idf={"duration_h": [1.0, 3.0], "intensity_mm_h": [50.0, 30.0]}).values
    # depths 50 mm in 1 h, 90 mm in 3 h; D(2 h) = 50 * (90/50)**(ln 2 / ln 3) = 50 * 1.8**0.630930 = 72.4484 mm
    d2 = 50.0 * 1.8 ** (math.log(2.0) / math.log(3.0))
    np.testing.assert_allclose(h, [90.0 - d2, 50.0, d2 - 50.0], rtol=1e-12)
    assert h.sum() == pytest.approx(90.0, rel=1e-12)  # the table's 3-h depth exactly


@pytest.mark.parametrize("duration, step", [(3, 1), ("3", "1"), (3.0, 1.0)])
def test_durations_without_unit_are_a_config_error(duration, step):
    # pandas reads 3 / "3" as 3 ns: before, a storm of NaN mm at 1-ns labels (RuntimeWarning only)
    with pytest.raises(ConfigError, match="no unit"):
        design_storm(150.0, duration, step)
    # durations with a unit are unchanged, numpy ones included: 90 mm in 3 blocks of 1 h
    h = design_storm(90.0, np.timedelta64(3, "h"), np.timedelta64(1, "h"))
    assert h.values.sum() == pytest.approx(90.0, rel=1e-12) and h.sizes["time"] == 3


def test_unreadable_step_or_total_is_a_config_error():
    with pytest.raises(ConfigError, match="step"):  # before: raw ValueError from pandas
        design_storm(100.0, "3h", "abc")
    with pytest.raises(ConfigError, match="positive number"):  # before: raw TypeError from np.isfinite
        design_storm("100", "3h", "1h")


# ---------------------------------------------------------------------------------------------- stations

X = 490_500.0 + 1000.0 * np.arange(3)
Y = 9_868_500.0 - 1000.0 * np.arange(3)


@pytest.fixture
def grid():
    return xr.DataArray(np.ones((3, 3)), dims=("y", "x"), coords={"y": Y, "x": X}).rio.write_crs("EPSG:32750")


def _files(tmp_path, rain_text):
    r, s = tmp_path / "rain.csv", tmp_path / "stations.csv"
    r.write_text(rain_text)
    s.write_text(f"id,x,y\nA,{X[0]},{Y[0]}\nB,{X[2]},{Y[2]}\n")  # A on cell (0, 0), B on cell (2, 2)
    return r, s


def test_an_infinite_station_value_is_an_error_not_a_missing_value(tmp_path, grid):
    # before: "inf" at A was dropped like an empty cell: the whole grid got B's 2 mm, silently
    r, s = _files(tmp_path, "date,A,B\n2024-01-01 01:00,inf,2\n2024-01-01 02:00,3,4\n")
    with pytest.raises(InputDataError, match="station A"):
        stations_to_grid(r, s, grid, station_crs="EPSG:32750")


def test_a_row_without_a_date_is_named(tmp_path, grid):
    # a trailing ",," row (spreadsheet export): before "times are not sorted"
    r, s = _files(tmp_path, "date,A,B\n2024-01-01 01:00,10,2\n2024-01-01 02:00,3,4\n,,\n")
    with pytest.raises(InputDataError, match="row 3 has no date"):
        stations_to_grid(r, s, grid, station_crs="EPSG:32750")


def test_a_row_without_a_date_is_named_and_the_rest_is_unchanged(tmp_path, grid):
    r, s = _files(tmp_path, "date,A,B\n2024-01-01 01:00,10,2\n,3,4\n2024-01-01 03:00,3,4\n")
    with pytest.raises(InputDataError, match="row 2 has no date"):
        stations_to_grid(r, s, grid, station_crs="EPSG:32750")
    # a complete file still gives the station's value on its cell (10 mm at A's cell, 2 mm at B's)
    r, s = _files(tmp_path, "date,A,B\n2024-01-01 01:00,10,2\n2024-01-01 02:00,3,4\n")
    out = stations_to_grid(r, s, grid, station_crs="EPSG:32750")
    assert out.values[0, 0, 0] == 10.0 and out.values[0, 2, 2] == 2.0


@pytest.mark.parametrize("power", [float("nan"), -1.0])
def test_idw_power_must_be_a_non_negative_number(power):
    # before: NaN gave NaN on every cell not on a station; -1 weighted the far station more (cell (0, 1) of the
    # grid above: 4.47 mm, below the mean of 10 and 2 although it is nearer the 10-mm station)
    cells = np.array([[0.0, 0.0], [1.0, 0.0]])
    stations = np.array([[0.0, 0.0], [3.0, 0.0]])
    with pytest.raises(InputDataError, match="power"):
        station_weights(cells, stations, "idw", power)

