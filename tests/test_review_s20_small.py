"""Review of the small shared modules: times.parse_timestamp and io.tables.read_csv."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydro.errors import ConfigError, InputDataError
from hydro.io.tables import numeric_column, read_csv
from hydro.times import parse_timestamp

sys.path.insert(0, str(Path(__file__).resolve().parent / "allocation"))


@pytest.mark.parametrize("value", [20250825, 2025, 1.5, np.int64(20240101)])
def test_parse_timestamp_refuses_numbers(value):
    # pandas reads a number as nanoseconds since 1970: 20250825 -> 1970-01-01 00:00:00.020250825
    with pytest.raises(ConfigError, match="number"):
        parse_timestamp(value, "start")


@pytest.mark.parametrize("value", ["now", "today", " Now "])
def test_parse_timestamp_refuses_local_clock_words(value):
    # pandas gives the machine's local wall clock, which the package reads as UTC (8 h off in WITA)
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_timestamp(value, "reference time")


def test_parse_timestamp_still_reads_dates():
    import datetime as dt

    assert parse_timestamp("2024-02-29", "start") == pd.Timestamp("2024-02-29")
    assert parse_timestamp(dt.date(2024, 2, 29), "start") == pd.Timestamp("2024-02-29")
    assert parse_timestamp(np.datetime64("2025-08-25T03:00"), "start") == pd.Timestamp("2025-08-25T03:00")
    with pytest.raises(ConfigError):
        parse_timestamp("2023-02-29", "start")


def test_allocate_with_numeric_start_is_refused_not_run_in_1970():
    from alloc_helpers import dem, intake, link, make_net

    from hydro.allocation import allocate, load_network

    net = load_network(make_net([intake("i", "2 m3/s"), dem("d", "a", "1 m3/s"), {"id": "o", "type": "outlet"}],
                                [link("l1", "i", "d"), link("l2", "i", "o")], steps=2))
    with pytest.raises(ConfigError):
        allocate(net, start=20240101)  # was run silently on 1970-01-01 00:00:00.020240101


def test_read_csv_decimal_commas_refused(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("date,q\n2024-01-01,1,5\n2024-01-02,2,25\n")  # decimal commas: every row one field too many
    with pytest.raises(InputDataError, match="more fields than the header"):
        read_csv(p)  # was: date column [1, 2], q [5, 25]


def test_read_csv_trailing_comma_refused(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("date,q\n2024-01-01,1.5,\n2024-01-02,2.5,\n")
    with pytest.raises(InputDataError, match="more fields than the header"):
        read_csv(p)  # was: date column [1.5, 2.5], q all NaN


def test_read_csv_regular_file_values(tmp_path):
    p = tmp_path / "q.csv"
    p.write_bytes("\ufeffdate,q\n2024-01-01,1.5\n2024-01-02,\n".encode("utf-8"))  # BOM, one empty cell
    df = read_csv(p)
    assert list(df.columns) == ["date", "q"]
    np.testing.assert_array_equal(numeric_column(df, "q", str(p)), [1.5, np.nan])
    # an explicit index_col keeps pandas' behaviour
    assert list(read_csv(p, index_col=0).columns) == ["q"]


def test_calibration_csv_with_decimal_commas_names_the_cause(tmp_path):
    from hydro.calibrate.run import read_series_csv

    p = tmp_path / "c.csv"
    p.write_text("date,P,E,Q\n" + "".join(f"2020-01-{d:02d},1,5,3,2,0,7\n" for d in range(1, 11)))
    with pytest.raises(InputDataError, match="decimal"):
        read_series_csv(p, date_column="date", precipitation_column="P", pet_column="E",
                             discharge_column="Q", discharge_units="mm/d")


def test_station_rain_with_decimal_commas_names_the_cause(tmp_path):
    # "2024-01-01,1,5" under a header "date,st1": pandas read 1 as the index and 5 as the station's rain
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr

    from hydro.forcing.stations import stations_to_grid

    (tmp_path / "st.csv").write_text("id,x,y\nst1,116.9,-1.2\n")
    (tmp_path / "rain.csv").write_text("date,st1\n2024-01-01,1,5\n2024-01-02,0,0\n")
    grid = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), coords={"y": [-1.1, -1.3], "x": [116.8, 117.0]})
    grid = grid.rio.write_crs("EPSG:4326")
    with pytest.raises(InputDataError, match="more fields than the header"):
        stations_to_grid(tmp_path / "rain.csv", tmp_path / "st.csv", grid)
