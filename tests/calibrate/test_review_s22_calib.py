"""Review of hydro.calibrate (calibration TOML, CSV dates, parameter list): defects found by rev_calib.

Each test failed on the original code (see REPORT.md) and passes with fix.diff.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydro.calibrate import calibrate, read_series_csv, run_calibration, simulate_lumped
from hydro.errors import ConfigError
from tests.calibrate.configs import synthetic_csv_config

PERIODS = 'warmup = ["2020-01-01", "2020-12-31"]\ncalibration = ["2021-01-01", "2022-06-30"]'


def _config(tmp_path: Path, *, input_extra: str = "", periods: str = PERIODS, extra: str = "",
            units_line: str = 'discharge_units = "m3/s"') -> Path:
    """The shipped synthetic catchment CSV (m3/s, 120 km2), 1 DE iteration of 5 members; outputs in tmp/out."""
    return synthetic_csv_config(tmp_path, extra=extra, periods=periods, units_line=units_line, input_extra=input_extra)


@pytest.mark.parametrize("kw, match", [
    # discharge in m3/s read as mm/d (the default unit): 0.8353 m3/s is 0.8353*86.4/120 = 0.6014 mm/d, read as
    # 0.8353 mm/d (x1.39); before: calibrated and written without a word
    (dict(units_line='discharge_unit = "m3/s"'), "discharge_unit"),
    # a misspelt warm-up: before, the run silently started on the first calibration day (no warm-up)
    (dict(periods='warm_up = ["2020-01-01", "2020-12-31"]\ncalibration = ["2021-01-01", "2022-06-30"]'), "warm_up"),
    # a misspelt [bounds] table: before, the default bounds were used
    (dict(extra='[bound]\nproduction_capacity_mm = [10.0, 20.0]'), "bound"),
    # bounds of a parameter that is not calibrated (default set X1-X4): before, silently ignored
    (dict(extra='[bounds]\ninterception_capacity_mm = [0.0, 5.0]'), "interception_capacity_mm"),
])
def test_misspelt_or_idle_keys_of_the_calibration_toml_are_config_errors(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        run_calibration(_config(tmp_path, **kw))
    assert not (tmp_path / "out").exists()


def test_bad_station_coordinates_fail_before_the_search_and_keep_earlier_outputs(tmp_path):
    """Before: ValueError "could not convert string to float" raised by the NetCDF writer after the whole
    search (CLI exit 1 with a traceback), and the previous run's NetCDF was deleted; a latitude of 116.8
    (lat/lon swapped) was written as is."""
    good = run_calibration(_config(tmp_path))
    nc = Path(good["paths"]["netcdf"])
    before = nc.read_bytes()
    for bad in ('lat = "1.2S"', "lat = 116.8", 'lon = "east"'):
        with pytest.raises(ConfigError, match="lat|lon"):
            run_calibration(_config(tmp_path, input_extra=bad))
        assert nc.read_bytes() == before


def test_empty_calibration_period_is_a_config_error(tmp_path):
    """Before: ValueError "min() arg is an empty sequence" (a traceback, CLI exit 1)."""
    with pytest.raises(ConfigError, match="calibration"):
        run_calibration(_config(tmp_path, periods='calibration = []'))


def test_empty_parameter_list_is_a_config_error(tmp_path):
    """Before: scipy's ValueError "bounds should be a sequence containing finite real valued (min, max)
    pairs" from inside differential_evolution (API and `parameters = []` in the TOML)."""
    idx = pd.date_range("2001-01-01", periods=400, freq="D")
    rng = np.random.default_rng(1)
    P = rng.gamma(0.5, 8.0, idx.size)
    E = np.full(idx.size, 3.0)
    Q = simulate_lumped(P, E, {})
    with pytest.raises(ConfigError, match="no parameter"):
        calibrate(P, E, Q, idx, parameters=[], calibration=("2001-03-01", "2001-12-31"), maxiter=1, popsize=5)
    with pytest.raises(ConfigError, match="no parameter"):
        run_calibration(_config(tmp_path, extra="parameters = []"))
    assert not (tmp_path / "out").exists()


def test_csv_dates_across_a_daylight_saving_change(tmp_path):
    """Local midnights of Europe/Zurich: +01:00 until 2020-03-29, +02:00 from 2020-03-30 (CSV exports of
    CAMELS-CH/BAFU style). The local dates count (as for a fixed offset). Before: FutureWarning (an error
    under pytest) then InputDataError "column 'date' is not a date: Tz-aware datetime.datetime cannot be
    converted to datetime64 unless utc=True"."""
    days = [f"2020-03-{d:02d}T00:00:00{'+01:00' if d <= 29 else '+02:00'}" for d in range(25, 32)]
    days += ["2020-04-01T00:00:00+02:00", "2020-04-02T00:00:00+02:00"]
    # 1.2 m3/s over 86.4 km2: 1.2 * 86400 m3/d / 86.4e6 m2 = 1.2e-3 m = 1.2 mm/d
    pd.DataFrame({"date": days, "precipitation_mm": 1.0, "pet_mm": 2.0, "discharge": 1.2}).to_csv(
        tmp_path / "q.csv", index=False)
    df = read_series_csv(tmp_path / "q.csv", discharge_units="m3/s", catchment_area_km2=86.4)
    assert list(df.index) == list(pd.date_range("2020-03-25", "2020-04-02", freq="D"))
    np.testing.assert_allclose(df["Q_obs"].to_numpy(), 1.2, rtol=1e-12)
    np.testing.assert_array_equal(df["P"].to_numpy(), 1.0)
